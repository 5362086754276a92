/**
 * Writes that decide who is a member: a new conversation with its members, members added later, a
 * member removed. Each writes META and `MEMBER#` items together, so `memberCount` never disagrees with
 * the items.
 */
import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { cancellationReasons, LimitExceededError, NotAMemberError, ValidationError } from '../../errors';
import { LIMITS } from '../../limits';
import type { ConversationSummary } from '../../protocol';
import { META_SK, memberSk, type TableNames } from '../../tables';
import { existingMembers } from './members';
import { type RemovalRecord, removalSk } from './removals';

/** DynamoDB refuses a TransactWriteItems call with more items than this. */
const MAX_TRANSACTION_ITEMS = 100;

/** Attempts of addMemberItems when a concurrent add keeps changing who is a member. */
const ADD_MEMBERS_ATTEMPTS = 3;

/** A member's role: the creator is an admin, everyone added later a member. */
export type MemberRole = 'admin' | 'member';

/** The refusal for a group that would grow past LIMITS.maxGroupSize. */
function groupTooLarge(size: number): LimitExceededError {
  return new LimitExceededError(
    `A conversation has at most ${LIMITS.maxGroupSize} members (the creator included); this would make ${size}`,
  );
}

/**
 * Writes one item per member and the META item (counter at 0, memberCount), META last: up to 99
 * members that is one TransactWriteItems, and a conversation is never visible without its members. The
 * members are deduplicated, first occurrence first, so pass the creator first.
 * @throws LimitExceededError when there are more than LIMITS.maxGroupSize members.
 */
export async function createConversation(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  input: {
    conversationId: string;
    title?: string;
    members: string[];
    createdBy: string;
    now: Date;
    direct?: boolean;
  },
): Promise<ConversationSummary> {
  const members = [...new Set(input.members)];
  if (members.length > LIMITS.maxGroupSize) throw groupTooLarge(members.length);
  const createdAt = input.now.toISOString();
  const { conversationId, createdBy } = input;
  const meta = {
    conversationId,
    sk: META_SK,
    ...(input.title === undefined ? {} : { title: input.title }),
    createdBy,
    createdAt,
    lastSeq: 0,
    memberCount: members.length,
    ...(input.direct === true ? { direct: true, members } : {}),
  };
  // A conversation exists once its META exists: every route that reads or writes one checks META. So the
  // META put goes in the last transaction, and a group too large for one transaction (DynamoDB takes
  // 100 items) has its members written first: it appears whole or not at all.
  const items = [
    ...members.map((userId) => ({
      Put: {
        TableName: tables.conversations,
        Item: memberItem(
          conversationId,
          userId,
          createdBy,
          createdAt,
          userId === createdBy ? 'admin' : 'member',
        ),
        // A colliding id must fail, never join someone else's conversation.
        ConditionExpression: 'attribute_not_exists(conversationId)',
      },
    })),
    {
      Put: {
        TableName: tables.conversations,
        Item: meta,
        ConditionExpression: 'attribute_not_exists(conversationId)',
      },
    },
  ];
  for (let start = 0; start < items.length; start += MAX_TRANSACTION_ITEMS) {
    await ddb.send(
      new TransactWriteCommand({ TransactItems: items.slice(start, start + MAX_TRANSACTION_ITEMS) }),
    );
  }
  return {
    conversationId,
    ...(input.title === undefined ? {} : { title: input.title }),
    ...(input.direct === true ? { direct: true as const } : {}),
    members,
    createdBy,
    createdAt,
    lastSeq: 0,
  };
}

/**
 * Adds each user who is not a member yet, together with the META `memberCount`, in one transaction: the
 * count can only grow to LIMITS.maxGroupSize, and each member item is put only if it is not there, so
 * concurrent adds and retries are safe and never overwrite the original `joinedAt`/`addedBy`.
 * @returns the users actually added, in request order; existing members are left out.
 * @throws LimitExceededError when the group would grow past LIMITS.maxGroupSize (nothing is written).
 */
export async function addMemberItems(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  input: { conversationId: string; members: string[]; addedBy: string; now: Date },
): Promise<string[]> {
  const { conversationId } = input;
  const joinedAt = input.now.toISOString();
  const requested = [...new Set(input.members)];
  // Even if only the caller were a member, these would not fit (nor fit one transaction).
  if (requested.length >= LIMITS.maxGroupSize) throw groupTooLarge(requested.length + 1);
  for (let attempt = 1; ; attempt++) {
    const existing = await existingMembers(ddb, tables, conversationId, requested);
    const added = requested.filter((userId) => !existing.has(userId));
    if (added.length === 0) return [];
    try {
      await ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: tables.conversations,
                Key: { conversationId, sk: META_SK },
                UpdateExpression: 'ADD memberCount :added',
                ConditionExpression:
                  'attribute_exists(conversationId) AND attribute_not_exists(direct) AND memberCount <= :room',
                ExpressionAttributeValues: {
                  ':added': added.length,
                  ':room': LIMITS.maxGroupSize - added.length,
                },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            ...added.map((userId) => ({
              Put: {
                TableName: tables.conversations,
                Item: memberItem(conversationId, userId, input.addedBy, joinedAt, 'member'),
                ConditionExpression: 'attribute_not_exists(conversationId)',
              },
            })),
          ],
        }),
      );
      return added;
    } catch (err: unknown) {
      const reasons = cancellationReasons(err);
      if (reasons === undefined) throw err;
      const meta = reasons[0];
      if (meta?.Code === 'ConditionalCheckFailed' && meta.Item === undefined) {
        throw new NotAMemberError(conversationId);
      }
      if (
        meta?.Code === 'ConditionalCheckFailed' &&
        (meta.Item as { direct?: unknown } | undefined)?.direct
      ) {
        throw new ValidationError(['conversationId: a direct conversation has exactly its two members']);
      }
      if (meta?.Code === 'ConditionalCheckFailed') {
        const count = Number((meta.Item as { memberCount?: { N?: string } } | undefined)?.memberCount?.N);
        throw groupTooLarge(Number.isFinite(count) ? count + added.length : LIMITS.maxGroupSize + 1);
      }
      // Someone added one of these users meanwhile (or the transaction conflicted): look again.
      if (attempt >= ADD_MEMBERS_ATTEMPTS) throw err;
    }
  }
}

/**
 * Removes `userId`: one transaction deletes the member item (only if it is there), decrements META
 * `memberCount` and writes the removal record, replacing the record of an earlier removal of the same
 * user (who was added again since).
 * @returns false when the user was not a member any more (removed by a concurrent request a moment
 * ago); nothing is written then.
 */
export async function removeMemberItem(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
  userId: string,
  record: RemovalRecord,
): Promise<boolean> {
  try {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Delete: {
              TableName: tables.conversations,
              Key: { conversationId, sk: memberSk(userId) },
              ConditionExpression: 'attribute_exists(conversationId)',
            },
          },
          {
            Update: {
              TableName: tables.conversations,
              Key: { conversationId, sk: META_SK },
              UpdateExpression: 'ADD memberCount :minusOne',
              ConditionExpression: 'attribute_exists(conversationId)',
              ExpressionAttributeValues: { ':minusOne': -1 },
            },
          },
          {
            Put: {
              TableName: tables.conversations,
              Item: { conversationId, sk: removalSk(userId), ...record },
            },
          },
        ],
      }),
    );
    return true;
  } catch (err: unknown) {
    if (cancellationReasons(err)?.[0]?.Code === 'ConditionalCheckFailed') return false;
    throw err;
  }
}

function memberItem(
  conversationId: string,
  userId: string,
  addedBy: string,
  joinedAt: string,
  role: MemberRole,
): Record<string, string> {
  return { conversationId, sk: memberSk(userId), memberId: userId, joinedAt, addedBy, role };
}
