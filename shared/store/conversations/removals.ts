/**
 * Removal records (`REMOVED#<userId>`): written in the transaction that deletes a member item, they let
 * a resent removal find and finish what its first attempt left (lambdas/conversations/membership/).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { MembershipKind } from '../../protocol';
import { META_SK, memberSk, type TableNames } from '../../tables';
import { batchGetAll } from '../batch';
import { updateIf } from '../conditions';

/** The sort key of the record of `userId`'s latest removal from the conversation. */
export const removalSk = (userId: string): string => `REMOVED#${userId}`;

/**
 * The record of a removal, written in the transaction that deletes the member item: who removed whom,
 * how, and when its current attempt began (`claimedAt`, ms); `seq` and `at` once the change is stored.
 */
export interface RemovalRecord {
  kind: MembershipKind;
  by: string;
  claimedAt: number;
  seq?: number;
  at?: string;
}

/** META, the member items of the caller and the target, and the target's removal record: one strongly consistent BatchGetItem. */
export async function readMembership(
  deps: { ddb: DynamoDBDocumentClient; tables: Pick<TableNames, 'conversations'> },
  conversationId: string,
  callerId: string,
  userId: string,
): Promise<{
  meta?: Record<string, unknown>;
  caller?: Record<string, unknown>;
  target?: Record<string, unknown>;
  removal?: RemovalRecord;
}> {
  const keys = [META_SK, memberSk(callerId), memberSk(userId), removalSk(userId)];
  const items = await batchGetAll(
    deps.ddb,
    deps.tables.conversations,
    [...new Set(keys)].map((sk) => ({ conversationId, sk })),
    { consistentRead: true },
  );
  const bySk = new Map(items.map((item) => [String(item.sk), item]));
  const meta = bySk.get(META_SK);
  const caller = bySk.get(memberSk(callerId));
  const target = bySk.get(memberSk(userId));
  const removal = bySk.get(removalSk(userId)) as RemovalRecord | undefined;
  return {
    ...(meta === undefined ? {} : { meta }),
    ...(caller === undefined ? {} : { caller }),
    ...(target === undefined ? {} : { target }),
    ...(removal === undefined ? {} : { removal }),
  };
}

/**
 * Gives the removal record its change's seq and time, unless an attempt gave it one first.
 * @returns false when the record already had a seq (another attempt outlived its lease and stored its own change).
 */
export async function setRemovalSeq(
  deps: { ddb: DynamoDBDocumentClient; tables: Pick<TableNames, 'conversations'> },
  conversationId: string,
  userId: string,
  change: { seq: number; at: string },
): Promise<boolean> {
  const outcome = await updateIf(deps.ddb, {
    TableName: deps.tables.conversations,
    Key: { conversationId, sk: removalSk(userId) },
    UpdateExpression: 'SET seq = :seq, #at = :at',
    ConditionExpression: 'attribute_exists(conversationId) AND attribute_not_exists(seq)',
    ExpressionAttributeNames: { '#at': 'at' },
    ExpressionAttributeValues: { ':seq': change.seq, ':at': change.at },
  });
  return outcome.applied;
}

/**
 * Takes over an unfinished removal whose attempt is gone: moves `claimedAt` from the value this resend
 * read to `now`, only if nobody moved it or gave the record a seq meanwhile, so one resend wins.
 * @returns false when another resend took it over (or finished it) first.
 */
export async function claimRemoval(
  deps: { ddb: DynamoDBDocumentClient; tables: Pick<TableNames, 'conversations'> },
  conversationId: string,
  userId: string,
  claim: { staleClaimedAt: number; now: number },
): Promise<boolean> {
  const outcome = await updateIf(deps.ddb, {
    TableName: deps.tables.conversations,
    Key: { conversationId, sk: removalSk(userId) },
    UpdateExpression: 'SET claimedAt = :now',
    ConditionExpression: 'claimedAt = :stale AND attribute_not_exists(seq)',
    ExpressionAttributeValues: { ':now': claim.now, ':stale': claim.staleClaimedAt },
  });
  return outcome.applied;
}
