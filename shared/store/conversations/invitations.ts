/**
 * Invitations: a user a group's creator or adder may not add straight away (their `whoCanAdd`, see
 * ./profiles.ts) gets an `INVITE#<conversationId>` item in their own partition instead of a member item.
 * They are no member: no history, no messages, no offline events, until they accept. The invitation is
 * written in the creation's or add's transaction (./admission.ts); here: which exist, the list, accept
 * and decline.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { cancellationReasons, LimitExceededError, NotAMemberError } from '../../errors';
import { LIMITS } from '../../limits';
import type { Invitation } from '../../protocol';
import { META_SK, memberSk, type TableNames } from '../../tables';
import { batchGetAll } from '../batch';
import {
  invitationDelete,
  invitationSk,
  notRemovedByAnAdmin,
  profileRefusal,
  undoInvitation,
} from './admission';
import { PROFILE_SK, userPk } from './profiles';
import { changeRoster } from './roster';

type Tables = Pick<TableNames, 'conversations'>;

/** An invitation as stored: who invited, when, the title then, and whether the inviter was an admin. */
export interface StoredInvitation extends Invitation {
  byAdmin: boolean;
}

function toInvitation(item: Record<string, unknown>): StoredInvitation {
  return {
    conversationId: String(item.invitedTo),
    invitedBy: String(item.invitedBy),
    invitedAt: String(item.invitedAt),
    ...(typeof item.title === 'string' ? { title: item.title } : {}),
    byAdmin: item.byAdmin === true,
  };
}

/** Which of `userIds` have an invitation to the conversation pending: one consistent BatchGetItem per 100. */
export async function existingInvitations(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  userIds: string[],
): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const items = await batchGetAll(
    ddb,
    tables.conversations,
    userIds.map((userId) => ({ conversationId: userPk(userId), sk: invitationSk(conversationId) })),
    { consistentRead: true, projection: 'conversationId' },
  );
  return new Set(items.map((item) => String(item.conversationId).slice(userPk('').length)));
}

/** `userId`'s pending invitations, newest first: one Query of their partition (at most LIMITS.maxPendingInvitations). */
export async function listInvitations(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  userId: string,
): Promise<StoredInvitation[]> {
  const { Items } = await ddb.send(
    new QueryCommand({
      TableName: tables.conversations,
      KeyConditionExpression: 'conversationId = :u AND begins_with(sk, :invite)',
      ExpressionAttributeValues: { ':u': userPk(userId), ':invite': invitationSk('') },
      ConsistentRead: true,
    }),
  );
  return (Items ?? []).map(toInvitation).sort((a, b) => b.invitedAt.localeCompare(a.invitedAt));
}

/** `userId`'s invitation to the conversation, read consistently; undefined when there is none. */
export async function readInvitation(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  userId: string,
  conversationId: string,
): Promise<StoredInvitation | undefined> {
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.conversations,
      Key: { conversationId: userPk(userId), sk: invitationSk(conversationId) },
      ConsistentRead: true,
    }),
  );
  return Item === undefined ? undefined : toInvitation(Item);
}

/**
 * Turns `userId`'s invitation into membership, in one transaction: deletes the invitation (only if it is
 * there), moves one pending invitation to a conversation slot on their profile (refused at their cap),
 * puts their member item (only if they are not a member yet) and counts them in META (only while the
 * group exists, is not direct and has room); an invitation from someone who was no admin also checks
 * that no admin removed the user since.
 * @returns false when the invitation was gone (accepted or declined a moment ago); nothing is written then.
 * @throws NotAMemberError when the conversation is gone; LimitExceededError when it is full or the user
 * at their cap; NotAnAdminError when an admin removed the user since a plain member invited them.
 */
export async function acceptInvitation(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: { userId: string; invitation: StoredInvitation; now: Date },
): Promise<boolean> {
  const { userId, invitation } = input;
  const { conversationId } = invitation;
  try {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          invitationDelete(tables, conversationId, userId),
          {
            Update: {
              TableName: tables.conversations,
              Key: { conversationId: userPk(userId), sk: PROFILE_SK },
              UpdateExpression: 'ADD conversationCount :one, invitationCount :minusOne',
              ConditionExpression: 'attribute_not_exists(conversationCount) OR conversationCount < :cap',
              ExpressionAttributeValues: {
                ':one': 1,
                ':minusOne': -1,
                ':cap': LIMITS.maxConversationsPerUser,
              },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          {
            Put: {
              TableName: tables.conversations,
              Item: {
                conversationId,
                sk: memberSk(userId),
                memberId: userId,
                joinedAt: input.now.toISOString(),
                addedBy: invitation.invitedBy,
                role: 'member',
                counted: true,
              },
              ConditionExpression: 'attribute_not_exists(conversationId)',
            },
          },
          {
            Update: {
              TableName: tables.conversations,
              Key: { conversationId, sk: META_SK },
              UpdateExpression: 'ADD memberCount :one',
              ConditionExpression:
                'attribute_exists(conversationId) AND attribute_not_exists(direct) AND memberCount < :max',
              ExpressionAttributeValues: { ':one': 1, ':max': LIMITS.maxGroupSize },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          ...(invitation.byAdmin ? [] : [notRemovedByAnAdmin(tables, conversationId, userId)]),
          changeRoster(tables, conversationId, 'ADD', [userId]),
        ],
      }),
    );
    return true;
  } catch (err: unknown) {
    const reasons = cancellationReasons(err);
    const failed = (index: number) => reasons?.[index]?.Code === 'ConditionalCheckFailed';
    if (failed(0)) return false;
    if (failed(1)) throw profileRefusal(reasons?.[1]?.Item, { userId, invite: false }, userId);
    if (failed(3) && reasons?.[3]?.Item === undefined) throw new NotAMemberError(conversationId);
    if (failed(3)) {
      throw new LimitExceededError(
        `Conversation ${conversationId} has ${LIMITS.maxGroupSize} members already`,
      );
    }
    // Already a member (added meanwhile), or removed by an admin since: the invitation has no use left.
    if (failed(2) || failed(4)) {
      await declineInvitation(ddb, tables, userId, conversationId);
      if (failed(4)) throw new NotAMemberError(conversationId);
      return true;
    }
    throw err;
  }
}

/**
 * Deletes `userId`'s invitation (only if it is there) and gives back its pending slot, in one transaction.
 * @returns false when there was no invitation; nothing is written then.
 */
export async function declineInvitation(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  userId: string,
  conversationId: string,
): Promise<boolean> {
  try {
    await ddb.send(
      new TransactWriteCommand({ TransactItems: undoInvitation(tables, conversationId, userId) }),
    );
    return true;
  } catch (err: unknown) {
    if (cancellationReasons(err)?.[0]?.Code === 'ConditionalCheckFailed') return false;
    throw err;
  }
}
