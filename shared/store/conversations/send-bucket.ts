/**
 * The per-user, per-conversation send rate, folded into the membership check a send makes anyway, so a
 * message costs no extra request at human pace. The bucket is GCRA's single number, the "theoretical
 * arrival time" (`sendTat`, ms since the epoch) on the sender's `MEMBER#` item: a send is allowed while
 * `sendTat - now` stays within the burst tolerance, and moves `sendTat` one interval on.
 *
 * DynamoDB's update language has no `max`, so the bucket's two states are two conditional updates, and
 * the conditions split the states between them exactly (one applies, or the bucket is empty):
 *
 * - full (`sendTat <= now`, or never used): `SET sendTat = now + interval`;
 * - in use (`now < sendTat <= now + tolerance`): `SET sendTat = sendTat + interval`.
 *
 * Either is the member check too: a missing item fails its condition. A failed condition returns the
 * item (`ALL_OLD`), which says whether the bucket is empty (`rate_limited`, nothing written), the member
 * is gone, or the other update applies. Which one to try first is a guess from what this execution
 * environment last saw of the bucket ({@link BucketHints}): a right guess is one request, a wrong one two.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { BusyError, NotAMemberError, RateLimitedError } from '../../errors';
import { LIMITS } from '../../limits';
import { memberSk, type TableNames } from '../../tables';
import { itemOfFailedCondition } from '../conditions';

/** Milliseconds between two sends at the sustained rate. */
export const SEND_INTERVAL_MS = 1_000 / LIMITS.sendRatePerSecond;

/** How far ahead of now `sendTat` may stand and still admit a send: the burst less the one being sent. */
export const SEND_TOLERANCE_MS = (LIMITS.sendBurst - 1) * SEND_INTERVAL_MS;

/**
 * Updates one send may try: a wrong guess, then the right one, then more only while concurrent sends of
 * the same member keep moving the bucket from one state to the other between them.
 */
const ATTEMPTS = 4;

/** Members whose bucket one execution environment remembers; the oldest are forgotten first. */
const HINT_CAPACITY = 10_000;

/**
 * What this execution environment last knew of members' buckets. It only picks which update to try
 * first; the conditions decide. A send counts itself in before its request, so sends of one member that
 * run at once here (the local runtime runs every invocation in one process) guess right too.
 */
export class BucketHints {
  private readonly tats = new Map<string, number>();

  /** The member's `sendTat` as last seen or expected here, if this environment knows it. */
  tatOf(member: string): number | undefined {
    return this.tats.get(member);
  }

  /** Counts a send that is about to take a token. */
  expectSend(member: string, now: number): void {
    this.remember(member, Math.max(this.tats.get(member) ?? 0, now) + SEND_INTERVAL_MS);
  }

  /** Records `sendTat` as DynamoDB returned it. */
  remember(member: string, tat: number): void {
    this.tats.delete(member);
    this.tats.set(member, tat);
    if (this.tats.size > HINT_CAPACITY) {
      const oldest = this.tats.keys().next().value;
      if (oldest !== undefined) this.tats.delete(oldest);
    }
  }
}

interface BucketDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'conversations'>;
}

/** The two updates, by the bucket state each applies to. */
function updateFor(
  inUse: boolean,
  now: number,
): Pick<UpdateCommand['input'], 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'> {
  return inUse
    ? {
        UpdateExpression: 'SET sendTat = sendTat + :interval',
        ConditionExpression: 'attribute_exists(sk) AND sendTat > :now AND sendTat <= :limit',
        ExpressionAttributeValues: {
          ':interval': SEND_INTERVAL_MS,
          ':now': now,
          ':limit': now + SEND_TOLERANCE_MS,
        },
      }
    : {
        UpdateExpression: 'SET sendTat = :next',
        ConditionExpression: 'attribute_exists(sk) AND (attribute_not_exists(sendTat) OR sendTat <= :now)',
        ExpressionAttributeValues: { ':next': now + SEND_INTERVAL_MS, ':now': now },
      };
}

/** The member item's `sendTat` as a failed condition returned it; throws when there is no such member. */
function tatOf(conversationId: string, err: ConditionalCheckFailedException): number | undefined {
  const member = itemOfFailedCondition<{ sendTat?: unknown }>(err);
  if (member === undefined) throw new NotAMemberError(conversationId);
  return typeof member.sendTat === 'number' ? member.sendTat : undefined;
}

const rateLimited = (retryAfterMs: number): RateLimitedError =>
  new RateLimitedError(
    `At most ${LIMITS.sendRatePerSecond} messages, edits and deletes a second (bursts of ${LIMITS.sendBurst}) per user per conversation`,
    Math.max(1, Math.ceil(retryAfterMs)),
  );

/**
 * Checks that `userId` is a member of the conversation and takes one token from their send bucket.
 * @throws NotAMemberError when there is no such member (or conversation); nothing is written.
 * @throws RateLimitedError when the bucket is empty; nothing is written.
 * @throws BusyError when concurrent sends of the member kept changing the bucket's state; nothing is written.
 */
export async function takeSendToken(
  deps: BucketDeps,
  hints: BucketHints,
  conversationId: string,
  userId: string,
  now: () => number,
  signal: AbortSignal,
): Promise<void> {
  const member = `${conversationId}\n${userId}`;
  let tat = hints.tatOf(member);
  hints.expectSend(member, now());
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const at = now();
    const inUse = tat !== undefined && tat > at;
    try {
      const { Attributes } = await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.tables.conversations,
          Key: { conversationId, sk: memberSk(userId) },
          ...updateFor(inUse, at),
          ReturnValues: 'UPDATED_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
        { abortSignal: signal },
      );
      if (typeof Attributes?.sendTat === 'number') hints.remember(member, Attributes.sendTat);
      return;
    } catch (err: unknown) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      tat = tatOf(conversationId, err) ?? 0;
      hints.remember(member, tat);
      const over = tat - at - SEND_TOLERANCE_MS;
      if (over > 0) throw rateLimited(over);
    }
  }
  // The bucket is not empty, but concurrent sends of this member kept moving it between these updates.
  throw new BusyError('Sends of this member at once kept moving their send bucket', SEND_INTERVAL_MS);
}
