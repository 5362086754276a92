/**
 * The per-user, per-conversation send rate, folded into the membership check a send makes anyway, so a
 * message costs no extra request at human pace. The bucket is a GCRA bucket (../gcra.ts) on the
 * sender's `MEMBER#` item, in its `sendTat` attribute; its updates require the item, so either is the
 * member check too: a missing item fails its condition and the send is refused `forbidden`.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NotAMemberError, RateLimitedError } from '../../errors';
import { LIMITS } from '../../limits';
import { memberSk, type TableNames } from '../../tables';
import { type BucketHints, takeToken } from '../gcra';

export { BucketHints } from '../gcra';

/** Milliseconds between two sends at the sustained rate. */
export const SEND_INTERVAL_MS = 1_000 / LIMITS.sendRatePerSecond;

/** How far ahead of now `sendTat` may stand and still admit a send: the burst less the one being sent. */
export const SEND_TOLERANCE_MS = (LIMITS.sendBurst - 1) * SEND_INTERVAL_MS;

interface BucketDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'conversations'>;
}

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
  await takeToken(
    deps.ddb,
    {
      tableName: deps.tables.conversations,
      key: { conversationId, sk: memberSk(userId) },
      attribute: 'sendTat',
      intervalMs: SEND_INTERVAL_MS,
      toleranceMs: SEND_TOLERANCE_MS,
      mustExist: 'sk',
    },
    {
      empty: (retryAfterMs) =>
        new RateLimitedError(
          `At most ${LIMITS.sendRatePerSecond} messages, edits and deletes a second (bursts of ${LIMITS.sendBurst}) per user per conversation`,
          retryAfterMs,
        ),
      missing: () => new NotAMemberError(conversationId),
    },
    hints,
    now,
    signal,
  );
}
