/**
 * The per-user, per-conversation send rate, folded into the membership check a send already makes, so
 * a message at human pace costs no extra request. The bucket is kept as GCRA's single number, the
 * "theoretical arrival time" (`sendTat`, ms since the epoch) on the sender's `MEMBER#` item: a send is
 * allowed while `sendTat - now` stays within the burst tolerance, and moves `sendTat` one interval on.
 *
 * DynamoDB's update language has no `max`, so the two cases are two conditional updates, tried in the
 * order that makes the common one a single request:
 *
 * 1. `sendTat <= now` (the bucket is full: the last message is more than one interval old):
 *    `SET sendTat = now + interval`. This is the member check too: a missing item fails the condition.
 * 2. Otherwise the failed condition returned the item (`ALL_OLD`): over the tolerance is `rate_limited`
 *    with nothing written; within it, `SET sendTat = sendTat + interval` on condition it is still within.
 */
import { type AttributeValue, ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { NotAMemberError, RateLimitedError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { memberSk, type TableNames } from '../../shared/tables';

/** Milliseconds between two sends at the sustained rate. */
export const SEND_INTERVAL_MS = 1_000 / LIMITS.sendRatePerSecond;

/** How far ahead of now `sendTat` may stand and still admit a send: the burst less the one being sent. */
export const SEND_TOLERANCE_MS = (LIMITS.sendBurst - 1) * SEND_INTERVAL_MS;

interface BucketDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'conversations'>;
}

/** The member item as a failed condition returned it, or undefined when there is no such member. */
function memberOf(err: ConditionalCheckFailedException): { sendTat?: unknown } | undefined {
  const returned: Record<string, AttributeValue> | undefined = err.Item;
  return returned === undefined ? undefined : unmarshall(returned);
}

function refuseOrPass(
  conversationId: string,
  member: { sendTat?: unknown } | undefined,
  now: number,
): number {
  if (member === undefined) throw new NotAMemberError(conversationId);
  const tat = typeof member.sendTat === 'number' ? member.sendTat : now;
  const over = tat - now - SEND_TOLERANCE_MS;
  if (over > 0) {
    throw new RateLimitedError(
      `At most ${LIMITS.sendRatePerSecond} messages a second (bursts of ${LIMITS.sendBurst}) per conversation`,
      Math.ceil(over),
    );
  }
  return tat;
}

/**
 * Checks that `userId` is a member of the conversation and takes one send token from their bucket.
 * @throws NotAMemberError when there is no such member (or conversation); nothing is written.
 * @throws RateLimitedError when the bucket is empty; nothing is written.
 */
export async function takeSendToken(
  deps: BucketDeps,
  conversationId: string,
  userId: string,
  now: number,
  signal: AbortSignal,
): Promise<void> {
  const Key = { conversationId, sk: memberSk(userId) };
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.conversations,
        Key,
        UpdateExpression: 'SET sendTat = :next',
        ConditionExpression: 'attribute_exists(sk) AND (attribute_not_exists(sendTat) OR sendTat <= :now)',
        ExpressionAttributeValues: { ':next': now + SEND_INTERVAL_MS, ':now': now },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
      { abortSignal: signal },
    );
    return;
  } catch (err: unknown) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
    refuseOrPass(conversationId, memberOf(err), now);
  }
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.conversations,
        Key,
        UpdateExpression: 'SET sendTat = sendTat + :interval',
        ConditionExpression: 'attribute_exists(sk) AND sendTat <= :limit',
        ExpressionAttributeValues: { ':interval': SEND_INTERVAL_MS, ':limit': now + SEND_TOLERANCE_MS },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
      { abortSignal: signal },
    );
  } catch (err: unknown) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
    // Concurrent sends took the last tokens meanwhile (or the member was removed).
    refuseOrPass(conversationId, memberOf(err), now);
    throw new RateLimitedError('The send bucket changed under this send', SEND_INTERVAL_MS);
  }
}
