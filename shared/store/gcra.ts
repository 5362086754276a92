/**
 * A token bucket that holds across execution environments, as one number on one DynamoDB item: GCRA's
 * "theoretical arrival time" (ms since the epoch). A request is allowed while `tat - now` stays within
 * the burst tolerance, and moves `tat` one interval on. The send rate (./conversations/send-bucket.ts)
 * and the per-user frame budgets (./users.ts) are buckets of this kind.
 *
 * DynamoDB's update language has no `max`, so the bucket's two states are two conditional updates, and
 * the conditions split the states between them exactly (one applies, or the bucket is empty):
 *
 * - full (`tat <= now`, or never used): `SET tat = now + interval`;
 * - in use (`now < tat <= now + tolerance`): `SET tat = tat + interval`.
 *
 * A failed condition returns the item (`ALL_OLD`), which says whether the bucket is empty (nothing
 * written), the item is missing where it must exist, or the other update applies. Which one to try first
 * is a guess from what this execution environment last saw of the bucket ({@link BucketHints}): a right
 * guess is one request, a wrong one two.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { BusyError } from '../errors';
import { itemOfFailedCondition } from './conditions';

/**
 * Updates one take may try: a wrong guess, then the right one, then more only while concurrent takes of
 * the same bucket keep moving it from one state to the other between them.
 */
const ATTEMPTS = 4;

/** Buckets whose state one execution environment remembers; the oldest are forgotten first. */
const HINT_CAPACITY = 10_000;

/**
 * What this execution environment last knew of buckets' `tat`. It only picks which update to try first;
 * the conditions decide. A take counts itself in before its request, so takes of one bucket that run at
 * once here (the local runtime runs every invocation in one process) guess right too.
 */
export class BucketHints {
  private readonly tats = new Map<string, number>();

  /** The bucket's `tat` as last seen or expected here, if this environment knows it. */
  tatOf(bucket: string): number | undefined {
    return this.tats.get(bucket);
  }

  /** Counts a take that is about to move the bucket `intervalMs` on. */
  expectTake(bucket: string, now: number, intervalMs: number): void {
    this.remember(bucket, Math.max(this.tats.get(bucket) ?? 0, now) + intervalMs);
  }

  /** Records `tat` as DynamoDB returned it. */
  remember(bucket: string, tat: number): void {
    this.tats.delete(bucket);
    this.tats.set(bucket, tat);
    if (this.tats.size > HINT_CAPACITY) {
      const oldest = this.tats.keys().next().value;
      if (oldest !== undefined) this.tats.delete(oldest);
    }
  }
}

/** One bucket: where its number is stored and how fast it refills. */
export interface Bucket {
  tableName: string;
  key: Record<string, string>;
  /** The attribute holding `tat`; a plain name, written into the expressions as it is. */
  attribute: string;
  intervalMs: number;
  /** How far ahead of now `tat` may stand and still admit a take: the burst less the one being taken. */
  toleranceMs: number;
  /** The item's key attribute, when the item must exist: a take from a missing item fails (see {@link takeToken}). */
  mustExist?: string;
}

/** What refuses a take: an empty bucket, or a missing item the bucket requires. */
export interface BucketRefusals {
  empty: (retryAfterMs: number) => Error;
  missing?: () => Error;
}

/** The two updates, by the bucket state each applies to. */
function updateFor(
  bucket: Bucket,
  inUse: boolean,
  now: number,
): Pick<UpdateCommand['input'], 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'> {
  const tat = bucket.attribute;
  const exists = bucket.mustExist === undefined ? '' : `attribute_exists(${bucket.mustExist}) AND `;
  // A bucket whose item may not exist yet starts in its in-use update too, so takes racing on a new
  // user's item all apply (none guesses "full" while another has just started the bucket).
  const starts = bucket.mustExist === undefined;
  return inUse
    ? {
        UpdateExpression: starts
          ? `SET ${tat} = if_not_exists(${tat}, :now) + :interval`
          : `SET ${tat} = ${tat} + :interval`,
        ConditionExpression: starts
          ? `attribute_not_exists(${tat}) OR (${tat} > :now AND ${tat} <= :limit)`
          : `${exists}${tat} > :now AND ${tat} <= :limit`,
        ExpressionAttributeValues: {
          ':interval': bucket.intervalMs,
          ':now': now,
          ':limit': now + bucket.toleranceMs,
        },
      }
    : {
        UpdateExpression: `SET ${tat} = :next`,
        ConditionExpression: `${exists}(attribute_not_exists(${tat}) OR ${tat} <= :now)`,
        ExpressionAttributeValues: { ':next': now + bucket.intervalMs, ':now': now },
      };
}

/**
 * Takes one token from `bucket`: one UpdateItem when this environment guesses the bucket's state right,
 * two when not.
 * @throws `refusals.empty(retryAfterMs)` when the bucket is empty; nothing is written.
 * @throws `refusals.missing()` when there is no item and `bucket.mustExist` says there must be; nothing is written.
 * @throws BusyError when concurrent takes kept changing the bucket's state; nothing is written.
 */
export async function takeToken(
  ddb: DynamoDBDocumentClient,
  bucket: Bucket,
  refusals: BucketRefusals,
  hints: BucketHints,
  now: () => number,
  signal: AbortSignal,
): Promise<void> {
  const hint = `${bucket.tableName}\n${Object.values(bucket.key).join('\n')}\n${bucket.attribute}`;
  let tat = hints.tatOf(hint);
  hints.expectTake(hint, now(), bucket.intervalMs);
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const at = now();
    // With nothing known, a bucket that may be new guesses its in-use update, which also starts it.
    const inUse = tat === undefined ? bucket.mustExist === undefined : tat > at;
    try {
      const { Attributes } = await ddb.send(
        new UpdateCommand({
          TableName: bucket.tableName,
          Key: bucket.key,
          ...updateFor(bucket, inUse, at),
          ReturnValues: 'UPDATED_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
        { abortSignal: signal },
      );
      const stored: unknown = Attributes?.[bucket.attribute];
      if (typeof stored === 'number') hints.remember(hint, stored);
      return;
    } catch (err: unknown) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      const item = itemOfFailedCondition(err);
      if (bucket.mustExist !== undefined && item === undefined) throw refusals.missing?.() ?? err;
      const seen: unknown = item?.[bucket.attribute];
      tat = typeof seen === 'number' ? seen : 0;
      hints.remember(hint, tat);
      const over = tat - at - bucket.toleranceMs;
      if (over > 0) throw refusals.empty(Math.max(1, Math.ceil(over)));
    }
  }
  // The bucket is not empty, but concurrent takes kept moving it between these updates.
  throw new BusyError('Requests at once kept moving their rate bucket', bucket.intervalMs);
}
