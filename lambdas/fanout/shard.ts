/**
 * The shard worker: each record of the FIFO shard queue is one shard job (./split.ts), which reads its
 * shard's subscriptions (one consistent Query, G5) and posts the record's push to them as the inline
 * fan-out does (./deliver.ts: 410s forgotten, failing connections evicted, expired tokens ended). A
 * shard is a message group: its jobs run in seq order, the shards of a batch side by side. A job that
 * fails is reported with the later jobs of its shard (so a retry never reorders them), the other shards
 * carry on; after maxReceiveCount it waits in the shard DLQ (nothing is lost: a redrive posts it again,
 * and clients dedupe by seq).
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
 * Runs a batch of shard jobs: each shard (message group) in order, the shards side by side. A failed
 * job fails the later jobs of its shard, not the other shards; the failures go back to SQS as
 * batchItemFailures. Only the jobs whose own run failed count as `fanoutFailures`, as in the FIFO consumer.
 */
export async function processShardBatch(deps: ShardDeps, event: SQSEvent): Promise<SQSBatchResponse> {
  const groups = new Map<string, SQSRecord[]>();
  for (const record of event.Records) {
    const group = record.attributes.MessageGroupId ?? record.messageId;
    groups.set(group, [...(groups.get(group) ?? []), record]);
  }
  const failed = new Set<string>();
  let ownFailures = 0;
  await Promise.all(
    [...groups.values()].map(async (records) => {
      for (const [index, record] of records.entries()) {
        try {
          await processShardJob(deps, record);
        } catch (err: unknown) {
          deps.logger.error('Shard job failed; SQS will retry it and the rest of its shard', {
            messageId: record.messageId,
            receiveCount: record.attributes.ApproximateReceiveCount,
            error: err,
          });
          ownFailures++;
          for (const rest of records.slice(index)) failed.add(rest.messageId);
          return;
        }
      }
    }),
  );
  const batchItemFailures = event.Records.filter((record) => failed.has(record.messageId)).map((record) => ({
    itemIdentifier: record.messageId,
  }));
  if (ownFailures > 0) deps.metrics.record('fanoutFailures', ownFailures);
  return { batchItemFailures };
}
