/**
 * The shard worker: each record of the standard shard queue is one shard job (./split.ts), which reads
 * its shard's subscriptions (one consistent Query, G5) and posts the record's push to them as the inline
 * fan-out does (./deliver.ts: 410s forgotten, failing connections evicted, expired tokens ended). The
 * jobs of a batch run side by side; a job that fails is reported alone in batchItemFailures, so SQS
 * retries only it, and after maxReceiveCount keeps it in the shard DLQ (nothing is lost: a redrive
 * posts it again, and clients dedupe by seq).
 */
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { parseQueueBody } from '../../shared/queue-body';
import { listShard, shardKey } from '../../shared/store/connections';
import { type DeliveryDeps, POST_WORST_CASE_MS, postToListeners, RECORD_MARGIN_MS } from './deliver';
import { SHARD_ATTRIBUTE } from './split';

/**
 * Posts in flight at once per shard job: a job is one shard of a big conversation, up to a few
 * thousand connections, and it holds no message group, so it may use more of the API's rate than an
 * inline record does.
 */
export const SHARD_CONCURRENCY = 50;

export interface ShardDeps extends DeliveryDeps {
  /** The invocation's remaining time (Lambda context); absent means no deadline. */
  remainingTimeMs?: () => number;
}

/** A job that can never run (no record, no shard): it fails on every receive and ends in the DLQ. */
export class MalformedShardJobError extends Error {
  override readonly name = 'MalformedShardJobError';
}

/**
 * Runs one shard job.
 * @throws MalformedShardJobError for a body or shard attribute that cannot be read.
 * @throws FanoutDeliveryError when some connections of the shard must be tried again.
 */
export async function processShardJob(deps: ShardDeps, record: SQSRecord): Promise<void> {
  const parsed = parseQueueBody(record.body);
  const shard = Number(record.messageAttributes[SHARD_ATTRIBUTE]?.stringValue);
  if (!parsed.ok || !Number.isInteger(shard) || shard < 0) {
    throw new MalformedShardJobError(parsed.ok ? `shard attribute ${shard}` : parsed.reason);
  }
  const message = parsed.record;
  const now = deps.now ?? Date.now;
  const remaining = deps.remainingTimeMs?.();
  const postDeadline =
    remaining === undefined
      ? Number.POSITIVE_INFINITY
      : now() + remaining - POST_WORST_CASE_MS - RECORD_MARGIN_MS;
  const { listeners } = await listShard(deps.ddb, deps.tables, message.conversationId, shard, {
    consistent: true,
  });
  const { report } = await postToListeners(
    deps,
    message,
    listeners,
    shardKey(message.conversationId, shard),
    postDeadline,
  );
  deps.logger.info('Shard fanned out', {
    conversationId: message.conversationId,
    seq: message.seq,
    shard,
    ...report,
  });
}

/**
 * Runs a batch of shard jobs side by side; each job that failed is reported for retry, the others are
 * done. Failures are counted as `fanoutFailures`, like failed FIFO records.
 */
export async function processShardBatch(deps: ShardDeps, event: SQSEvent): Promise<SQSBatchResponse> {
  const outcomes = await Promise.allSettled(event.Records.map((record) => processShardJob(deps, record)));
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  outcomes.forEach((outcome, index) => {
    const record = event.Records[index];
    if (outcome.status === 'fulfilled' || record === undefined) return;
    deps.logger.error('Shard job failed; SQS will retry it alone', {
      messageId: record.messageId,
      receiveCount: record.attributes.ApproximateReceiveCount,
      error: outcome.reason,
    });
    batchItemFailures.push({ itemIdentifier: record.messageId });
  });
  if (batchItemFailures.length > 0) deps.metrics.record('fanoutFailures', batchItemFailures.length);
  return { batchItemFailures };
}
