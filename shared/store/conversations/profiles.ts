/**
 * Per-user items of the conversations table: how many conversations a user is in (the cap), how many
 * invitations they have pending, whom they block and who may add them to a group (`whoCanAdd`). They live under the partition `USER#<userId>` (sort key `PROFILE`), which no conversation
 * id can name (`conversationIdSchema` has no `#`) and which the byMember index never lists (no
 * `memberId`), so every write that makes someone a member takes that user's slot in the same
 * transaction as the member item, and a block holds under races.
 */
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { LimitExceededError } from '../../errors';
import { LIMITS } from '../../limits';
import type { WhoCanAdd } from '../../protocol';
import type { TableNames } from '../../tables';
import { batchGetAll } from '../batch';
import { updateIf } from '../conditions';

/** The partition of a user's own items in the conversations table. */
export const userPk = (userId: string): string => `USER#${userId}`;
export const PROFILE_SK = 'PROFILE';

/** A user's profile item: conversations counted against their cap, the users they block, who may add them. */
export interface UserProfile {
  conversationCount?: number;
  blocked?: Set<string>;
  whoCanAdd: WhoCanAdd;
}

type Tables = Pick<TableNames, 'conversations'>;

/**
 * The condition that `whoCanAdd` is still `seen`, the value read before the transaction (an item without
 * it holds LIMITS.defaultWhoCanAdd); empty when nothing was read (the caller, a direct conversation).
 */
export function seenCondition(seen: WhoCanAdd | undefined): {
  expression: string;
  values: Record<string, string>;
} {
  if (seen === undefined) return { expression: '', values: {} };
  const expression =
    seen === LIMITS.defaultWhoCanAdd
      ? ' AND (attribute_not_exists(whoCanAdd) OR whoCanAdd = :seen)'
      : ' AND whoCanAdd = :seen';
  return { expression, values: { ':seen': seen } };
}

/**
 * The transaction item that adds one to `counter` on `userId`'s profile, refused (condition) when it is
 * at `cap`, when they block `by` (the user who creates, adds or opens), or when they changed `whoCanAdd`
 * since it was read as `seen`. It returns the profile when refused, which ./admission.ts
 * (profileRefusal) turns into the answer.
 */
export function takeProfileCount(
  tables: Tables,
  userId: string,
  limit: { counter: 'conversationCount' | 'invitationCount'; cap: number },
  by: string,
  seen?: WhoCanAdd,
) {
  const { counter, cap } = limit;
  const still = seenCondition(seen);
  return {
    Update: {
      TableName: tables.conversations,
      Key: { conversationId: userPk(userId), sk: PROFILE_SK },
      UpdateExpression: `ADD ${counter} :one`,
      ConditionExpression: `(attribute_not_exists(${counter}) OR ${counter} < :cap) AND NOT contains(blocked, :by)${still.expression}`,
      ExpressionAttributeValues: { ':one': 1, ':cap': cap, ':by': by, ...still.values },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    },
  };
}

/**
 * The transaction item that takes one of `userId`'s conversation slots (see takeProfileCount), refused
 * at LIMITS.maxConversationsPerUser.
 */
export function takeConversationSlot(tables: Tables, userId: string, by: string, seen?: WhoCanAdd) {
  return takeProfileCount(
    tables,
    userId,
    { counter: 'conversationCount', cap: LIMITS.maxConversationsPerUser },
    by,
    seen,
  );
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

/** Sets who may add `userId` to a group straight away (the others invite them). One UpdateItem. */
export async function setWhoCanAdd(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  userId: string,
  whoCanAdd: WhoCanAdd,
): Promise<void> {
  await ddb.send(
    new UpdateCommand({
      TableName: tables.conversations,
      Key: { conversationId: userPk(userId), sk: PROFILE_SK },
      UpdateExpression: 'SET whoCanAdd = :who',
      ExpressionAttributeValues: { ':who': whoCanAdd },
    }),
  );
}

/** A profile item as the table holds it, read into a {@link UserProfile}. */
function toProfile(item: Record<string, unknown> | undefined): UserProfile {
  const who = item?.whoCanAdd;
  return {
    ...(typeof item?.conversationCount === 'number' ? { conversationCount: item.conversationCount } : {}),
    ...(item?.blocked instanceof Set ? { blocked: item.blocked as Set<string> } : {}),
    whoCanAdd: who === 'anyone' || who === 'contacts' || who === 'nobody' ? who : LIMITS.defaultWhoCanAdd,
  };
}

/** A user's profile, read consistently; the defaults before their first write. */
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
  return toProfile(Item);
}

/** The profiles of `userIds`: strongly consistent BatchGetItems of 100 keys. */
export async function readProfiles(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  userIds: string[],
): Promise<Map<string, UserProfile>> {
  const items = await batchGetAll(
    ddb,
    tables.conversations,
    userIds.map((userId) => ({ conversationId: userPk(userId), sk: PROFILE_SK })),
    { consistentRead: true },
  );
  const byPk = new Map(items.map((item) => [String(item.conversationId), item]));
  return new Map(userIds.map((userId) => [userId, toProfile(byPk.get(userPk(userId)))]));
}
