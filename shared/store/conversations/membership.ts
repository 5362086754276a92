/**
 * Writes that decide who is a member: a new conversation with its members, members added later, a
 * member removed. Each writes META and `MEMBER#` items together, so `memberCount` never disagrees with
 * the items, and takes (or gives back) each member's conversation slot on their profile item
 * (./profiles.ts) in the same transaction, so the per-user cap and the block list hold under races.
 */

import type { TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import {
  cancellationReasons,
  LimitExceededError,
  NotAMemberError,
  NotAnAdminError,
  ValidationError,
} from '../../errors';
import { LIMITS } from '../../limits';
import type { ConversationSummary } from '../../protocol';
import { META_SK, memberSk, type TableNames } from '../../tables';
import { existingMembers } from './members';
import { admissionRefusal, giveBackConversationSlot, takeConversationSlot } from './profiles';
import { type RemovalRecord, removalSk } from './removals';

/** One item of a TransactWriteItems call. */
export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** DynamoDB refuses a TransactWriteItems call with more items than this. */
const MAX_TRANSACTION_ITEMS = 100;

/** Attempts of addMemberItems when a concurrent add keeps changing who is a member. */
const ADD_MEMBERS_ATTEMPTS = 3;

/** A member's role: the creator is an admin, everyone added later a member until an admin promotes them. */
export type MemberRole = 'admin' | 'member';

type Tables = Pick<TableNames, 'conversations'>;

/** The refusal for a group that would grow past LIMITS.maxGroupSize. */
function groupTooLarge(size: number): LimitExceededError {
  return new LimitExceededError(
    `A conversation has at most ${LIMITS.maxGroupSize} members (the creator included); this would make ${size}`,
  );
}

/**
 * Writes one item per member, takes each member's conversation slot (refused when they are at their cap
 * or block the creator), and writes the META item (counter at 0, memberCount) last. Up to 49 members
 * that is one TransactWriteItems; a larger group takes a transaction per 49 members with META in the
 * last, so a conversation is never visible without its members, and a refused transaction has the ones
 * before it undone (their member items deleted and slots given back) before the refusal is thrown. The
 * members are deduplicated, first occurrence first, so pass the creator first.
 * @throws LimitExceededError when there are more than LIMITS.maxGroupSize members, or one is at their cap.
 * @throws NotAllowedError when a member blocks the creator.
 * @throws the TransactionCanceledException when the conversation (or a member item) exists already.
 */
export async function createConversation(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
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
  const metaPut: TransactItem = {
    Put: {
      TableName: tables.conversations,
      Item: meta,
      ConditionExpression: 'attribute_not_exists(conversationId)',
    },
  };
  const chunks = chunk(members, Math.floor((MAX_TRANSACTION_ITEMS - 1) / 2));
  for (const [index, users] of chunks.entries()) {
    const items: TransactItem[] = users.flatMap((userId) => [
      {
        Put: {
          TableName: tables.conversations,
          Item: memberItem(conversationId, userId, {
            addedBy: createdBy,
            joinedAt: createdAt,
            role: userId === createdBy ? 'admin' : 'member',
          }),
          // A colliding id must fail, never join someone else's conversation.
          ConditionExpression: 'attribute_not_exists(conversationId)',
        },
      },
      takeConversationSlot(tables, userId, createdBy),
    ]);
    if (index === chunks.length - 1) items.push(metaPut);
    try {
      await ddb.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (err: unknown) {
      await undoMembers(ddb, tables, conversationId, chunks.slice(0, index).flat());
      const reasons = cancellationReasons(err);
      // A member item or META was there already: the caller decides (a direct conversation answers with it).
      const collided = reasons?.some((reason, i) => reason.Code === 'ConditionalCheckFailed' && i % 2 === 0);
      const refused = reasons?.findIndex(
        (reason, i) => reason.Code === 'ConditionalCheckFailed' && i % 2 === 1,
      );
      const user = refused === undefined ? undefined : users[(refused - 1) / 2];
      if (collided || user === undefined) throw err;
      throw admissionRefusal(reasons?.[refused ?? 0]?.Item, user, createdBy);
    }
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
 * Adds each user who is not a member yet in one transaction per up to 49 users (33 when the caller is
 * no admin): their member items, their conversation slots (refused when they are at their cap or block
 * the caller) and META `memberCount`, which can only grow to LIMITS.maxGroupSize. A caller who is no
 * admin also has each user's removal record checked in the transaction: a user an admin removed is
 * added back only by an admin. Member items are put only if they are not there, so concurrent adds and
 * retries are safe and never overwrite the original `joinedAt`/`addedBy`; a refused transaction has the
 * ones before it undone before the refusal is thrown.
 * @returns the users actually added, in request order; existing members are left out.
 * @throws LimitExceededError when the group would grow past LIMITS.maxGroupSize or a user is at their cap.
 * @throws NotAllowedError when a user blocks the caller.
 * @throws NotAnAdminError when the caller is no admin and a user was removed by one.
 */
export async function addMemberItems(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: { conversationId: string; members: string[]; addedBy: string; byAdmin: boolean; now: Date },
): Promise<string[]> {
  const { conversationId, addedBy, byAdmin } = input;
  const joinedAt = input.now.toISOString();
  const requested = [...new Set(input.members)];
  // Even if only the caller were a member, these would not fit.
  if (requested.length >= LIMITS.maxGroupSize) throw groupTooLarge(requested.length + 1);
  const perUser = byAdmin ? 2 : 3;
  for (let attempt = 1; ; attempt++) {
    const existing = await existingMembers(ddb, tables, conversationId, requested);
    const added = requested.filter((userId) => !existing.has(userId));
    if (added.length === 0) return [];
    const chunks = chunk(added, Math.floor((MAX_TRANSACTION_ITEMS - 1) / perUser));
    let done = 0;
    try {
      for (const users of chunks) {
        // The room the rest of this add needs: the chunks before this one are in memberCount already.
        const rest = added.length - done * (chunks[0]?.length ?? 0);
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
                  ExpressionAttributeValues: { ':added': users.length, ':room': LIMITS.maxGroupSize - rest },
                  ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
                },
              },
              ...users.flatMap((userId) => [
                {
                  Put: {
                    TableName: tables.conversations,
                    Item: memberItem(conversationId, userId, { addedBy, joinedAt, role: 'member' }),
                    ConditionExpression: 'attribute_not_exists(conversationId)',
                  },
                },
                takeConversationSlot(tables, userId, addedBy),
                ...(byAdmin ? [] : [notRemovedByAnAdmin(tables, conversationId, userId)]),
              ]),
            ],
          }),
        );
        done += 1;
      }
      return added;
    } catch (err: unknown) {
      const undone = chunks.slice(0, done).flat();
      await undoMembers(ddb, tables, conversationId, undone, { memberCount: true });
      const reasons = cancellationReasons(err);
      if (reasons === undefined) throw err;
      refuseAdd(reasons, conversationId, chunks[done] ?? [], { perUser, addedBy, added: added.length });
      // Someone added one of these users meanwhile (or the transaction conflicted): look again.
      if (attempt >= ADD_MEMBERS_ATTEMPTS) throw err;
    }
  }
}

/** The condition that `userId`'s latest departure, if any, was no admin's removal. */
function notRemovedByAnAdmin(tables: Tables, conversationId: string, userId: string): TransactItem {
  return {
    ConditionCheck: {
      TableName: tables.conversations,
      Key: { conversationId, sk: removalSk(userId) },
      ConditionExpression: 'attribute_not_exists(conversationId) OR #kind <> :removed',
      ExpressionAttributeNames: { '#kind': 'kind' },
      ExpressionAttributeValues: { ':removed': 'member_removed' },
    },
  };
}

/** Throws the refusal an add's cancelled transaction stands for; returns when it is a race worth another look. */
function refuseAdd(
  reasons: { Code?: string; Item?: Record<string, unknown> }[],
  conversationId: string,
  users: string[],
  add: { perUser: number; addedBy: string; added: number },
): void {
  const meta = reasons[0];
  if (meta?.Code === 'ConditionalCheckFailed') {
    const item = meta.Item as { direct?: unknown; memberCount?: { N?: string } } | undefined;
    if (item === undefined) throw new NotAMemberError(conversationId);
    if (item.direct) {
      throw new ValidationError(['conversationId: a direct conversation has exactly its two members']);
    }
    const count = Number(item.memberCount?.N);
    throw groupTooLarge(Number.isFinite(count) ? count + add.added : LIMITS.maxGroupSize + 1);
  }
  for (const [index, reason] of reasons.entries()) {
    if (index === 0 || reason.Code !== 'ConditionalCheckFailed') continue;
    const user = users[Math.floor((index - 1) / add.perUser)];
    const which = (index - 1) % add.perUser;
    if (user === undefined) continue;
    if (which === 1) throw admissionRefusal(reason.Item, user, add.addedBy);
    if (which === 2) throw new NotAnAdminError(conversationId, `add back ${user}, whom an admin removed`);
  }
}

/**
 * Undoes member items a refused creation or add wrote before the refusal: deletes them (only if they are
 * still there), gives their slots back and, for an add, takes them off META `memberCount`.
 */
async function undoMembers(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  userIds: string[],
  options: { memberCount?: boolean } = {},
): Promise<void> {
  const perTransaction = Math.floor((MAX_TRANSACTION_ITEMS - 1) / 2);
  for (const users of chunk(userIds, perTransaction)) {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          ...users.flatMap((userId): TransactItem[] => [
            {
              Delete: {
                TableName: tables.conversations,
                Key: { conversationId, sk: memberSk(userId) },
                ConditionExpression: 'attribute_exists(conversationId)',
              },
            },
            giveBackConversationSlot(tables, userId),
          ]),
          ...(options.memberCount !== true
            ? []
            : [
                {
                  Update: {
                    TableName: tables.conversations,
                    Key: { conversationId, sk: META_SK },
                    UpdateExpression: 'ADD memberCount :minus',
                    ExpressionAttributeValues: { ':minus': -users.length },
                  },
                },
              ]),
        ],
      }),
    );
  }
}

/**
 * Removes `userId`: one transaction deletes the member item (only if it is there), decrements META
 * `memberCount`, gives back the user's conversation slot (when their member item took one: `counted`),
 * writes the removal record (replacing that of an earlier removal of the same user, who was added again
 * since), and carries `also`: the conditions and role changes that keep the conversation an admin
 * (see lambdas/conversations/membership/remove.ts).
 * @returns `removed`; `not_a_member` when the user was not a member any more (removed by a concurrent
 * request a moment ago); `roles_changed` when a condition of `also` failed. Nothing is written then.
 */
export async function removeMemberItem(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  userId: string,
  removal: { record: RemovalRecord; counted: boolean; also?: TransactItem[] },
): Promise<'removed' | 'not_a_member' | 'roles_changed'> {
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
              Item: { conversationId, sk: removalSk(userId), ...removal.record },
            },
          },
          ...(removal.counted ? [giveBackConversationSlot(tables, userId)] : []),
          ...(removal.also ?? []),
        ],
      }),
    );
    return 'removed';
  } catch (err: unknown) {
    const reasons = cancellationReasons(err);
    if (reasons?.[0]?.Code === 'ConditionalCheckFailed') return 'not_a_member';
    if (reasons?.some((reason) => reason.Code === 'ConditionalCheckFailed')) return 'roles_changed';
    throw err;
  }
}

/** `items` in runs of at most `size`. */
function chunk<T>(items: T[], size: number): T[][] {
  const runs: T[][] = [];
  for (let start = 0; start < items.length; start += size) runs.push(items.slice(start, start + size));
  return runs;
}

/**
 * A member item. `counted` marks that it took the user's conversation slot, which a removal gives back
 * (items written before the cap existed took none).
 */
function memberItem(
  conversationId: string,
  userId: string,
  join: { addedBy: string; joinedAt: string; role: MemberRole },
): Record<string, string | boolean> {
  return { conversationId, sk: memberSk(userId), memberId: userId, ...join, counted: true };
}
