/**
 * Per-user items of the conversations table: how many conversations a user is in (the cap) and whom
 * they block. They live under the partition `USER#<userId>` (sort key `PROFILE`), which no conversation
 * id can name (`conversationIdSchema` has no `#`) and which the byMember index never lists (no
 * `memberId`), so every write that makes someone a member takes that user's slot in the same
 * transaction as the member item, and a block holds under races.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { type ChatError, LimitExceededError, NotAllowedError } from '../../errors';
import { LIMITS } from '../../limits';
import type { TableNames } from '../../tables';
import { updateIf } from '../conditions';

/** The partition of a user's own items in the conversations table. */
export const userPk = (userId: string): string => `USER#${userId}`;
export const PROFILE_SK = 'PROFILE';

/** A user's profile item: conversations counted against their cap, and the users they block. */
export interface UserProfile {
  conversationCount?: number;
  blocked?: Set<string>;
}

type Tables = Pick<TableNames, 'conversations'>;

/**
 * The transaction item that takes one of `userId`'s conversation slots, refused (condition) when they
 * are at LIMITS.maxConversationsPerUser or block `by` (the user who creates, adds or opens). It returns
 * the profile when refused, which {@link admissionRefusal} turns into the answer.
 */
export function takeConversationSlot(tables: Tables, userId: string, by: string) {
  return {
    Update: {
      TableName: tables.conversations,
      Key: { conversationId: userPk(userId), sk: PROFILE_SK },
      UpdateExpression: 'ADD conversationCount :one',
      ConditionExpression:
        '(attribute_not_exists(conversationCount) OR conversationCount < :cap) AND NOT contains(blocked, :by)',
      ExpressionAttributeValues: { ':one': 1, ':cap': LIMITS.maxConversationsPerUser, ':by': by },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    },
  };
}

/** The transaction item that gives back the slot a member item took (on remove and leave). */
export function giveBackConversationSlot(tables: Tables, userId: string) {
  return {
    Update: {
      TableName: tables.conversations,
      Key: { conversationId: userPk(userId), sk: PROFILE_SK },
      UpdateExpression: 'ADD conversationCount :minusOne',
      ExpressionAttributeValues: { ':minusOne': -1 },
    },
  };
}

/**
 * Why {@link takeConversationSlot} refused `userId` (its failed condition's marshalled item): a block
 * answers `forbidden` in words that do not say who blocked whom; a full cap says whose it is.
 */
export function admissionRefusal(
  item: Record<string, unknown> | undefined,
  userId: string,
  by: string,
): ChatError {
  const blocked = (item?.blocked as { SS?: string[] } | undefined)?.SS ?? [];
  if (blocked.includes(by)) return new NotAllowedError(`You cannot add ${userId} to a conversation`);
  const cap = LIMITS.maxConversationsPerUser;
  return new LimitExceededError(
    userId === by
      ? `You are in ${cap} conversations, the most one user may be in; leave one first`
      : `${userId} is in ${cap} conversations, the most one user may be in`,
  );
}

/**
 * Adds `userId` to `blockerId`'s block list: they can no longer open a direct conversation with the
 * blocker nor add them to a group (conversations they share already stay).
 * @returns false when they were blocked already.
 * @throws LimitExceededError when the list holds LIMITS.maxBlockedUsers users already.
 */
export async function blockUser(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  blockerId: string,
  userId: string,
): Promise<boolean> {
  const outcome = await updateIf(ddb, {
    TableName: tables.conversations,
    Key: { conversationId: userPk(blockerId), sk: PROFILE_SK },
    UpdateExpression: 'ADD blocked :user',
    ConditionExpression:
      'NOT contains(blocked, :id) AND (attribute_not_exists(blocked) OR size(blocked) < :max)',
    ExpressionAttributeValues: { ':user': new Set([userId]), ':id': userId, ':max': LIMITS.maxBlockedUsers },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });
  if (outcome.applied) return true;
  const blocked = outcome.item?.blocked;
  if (blocked instanceof Set && blocked.has(userId)) return false;
  throw new LimitExceededError(`You may block at most ${LIMITS.maxBlockedUsers} users; unblock one first`);
}

/** Takes `userId` off `blockerId`'s block list. @returns false when they were not on it. */
export async function unblockUser(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  blockerId: string,
  userId: string,
): Promise<boolean> {
  const outcome = await updateIf(ddb, {
    TableName: tables.conversations,
    Key: { conversationId: userPk(blockerId), sk: PROFILE_SK },
    UpdateExpression: 'DELETE blocked :user',
    ConditionExpression: 'contains(blocked, :id)',
    ExpressionAttributeValues: { ':user': new Set([userId]), ':id': userId },
  });
  return outcome.applied;
}

/** A user's profile (block list and conversation count), read consistently; empty before their first write. */
export async function readProfile(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  userId: string,
): Promise<UserProfile> {
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.conversations,
      Key: { conversationId: userPk(userId), sk: PROFILE_SK },
      ConsistentRead: true,
    }),
  );
  return {
    ...(typeof Item?.conversationCount === 'number' ? { conversationCount: Item.conversationCount } : {}),
    ...(Item?.blocked instanceof Set ? { blocked: Item.blocked as Set<string> } : {}),
  };
}
