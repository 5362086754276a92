/**
 * The shard worker: each record of the FIFO shard queue is one shard job (./split.ts) holding one record
 * or a run of them, which reads its shard's subscriptions (one consistent Query, G5) and posts the
 * records' pushes to them, coalesced, as the inline fan-out does (./deliver.ts: 410s forgotten, failing
 * connections evicted, expired tokens ended). A shard is a message group: its jobs run in seq order, the shards of a batch side by side. A job that
 * fails is reported with the later jobs of its shard (so a retry never reorders them), the other shards
 * carry on; after maxReceiveCount it waits in the shard DLQ (nothing is lost: a redrive posts it again,
 * and clients dedupe by seq).
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { QueueRecord } from '../../shared/queue-body';
import { listShard, shardKey } from '../../shared/store/connections';
import {
  type DeliveryDeps,
  logDelivery,
  POST_WORST_CASE_MS,
  postToListeners,
  RECORD_MARGIN_MS,
  recordLag,
} from './deliver';
import { processByGroup } from './groups';
import { parseJobBody, SHARD_ATTRIBUTE } from './shard-job';

/**
 * Posts in flight at once per shard job: a job is one shard of a big conversation, up to a few
 * thousand connections, and it holds no message group, so it may use more of the API's rate than an
 * inline record does.
 */
export const SHARD_CONCURRENCY = 50;

export interface ShardDeps extends DeliveryDeps {
  /**
   * The invocation's remaining time (Lambda context); absent means no deadline. The batch stops
   * STOP_MARGIN_MS before its end (./groups.ts).
   */
  remainingTimeMs?: () => number;
  /** With `shardQueueUrl`: a failed job's visibility is shortened there (./retry.ts). */
  sqs?: Pick<SQSClient, 'send'>;
  shardQueueUrl?: string;
}

/** A job that can never run (no record, no shard): it fails on every receive and ends in the DLQ. */
export class MalformedShardJobError extends Error {
  override readonly name = 'MalformedShardJobError';
}

/** A shard job as read from its record: its records, in seq order. */
interface ShardJob {
  records: [QueueRecord, ...QueueRecord[]];
  shard: number;
}

/** @throws MalformedShardJobError for a body or shard attribute that cannot be read. */
function readJob(record: SQSRecord): ShardJob {
  const parsed = parseJobBody(record.body);
  const shard = Number(record.messageAttributes[SHARD_ATTRIBUTE]?.stringValue);
  if (!parsed.ok || !Number.isInteger(shard) || shard < 0) {
    throw new MalformedShardJobError(parsed.ok ? `shard attribute ${shard}` : parsed.reason);
  }
  return { records: parsed.records as ShardJob['records'], shard };
}

/**
 * Runs consecutive jobs of one shard (one message group) together: one consistent Query of the shard,
 * then each connection gets the run's pushes coalesced into as few posts as the billing unit allows
 * (a `batch` frame for several), in seq order. A lone job posts its push as itself.
 * @throws FanoutDeliveryError when some connections of the shard must be tried again.
 */
export async function processShardRun(
  deps: ShardDeps,
  jobs: readonly [ShardJob, ...ShardJob[]],
): Promise<void> {
  const [{ records, shard }] = jobs;
  const [message] = records;
  const now = deps.now ?? Date.now;
  const remaining = deps.remainingTimeMs?.();
  const postDeadline =
    remaining === undefined
      ? Number.POSITIVE_INFINITY
      : now() + remaining - POST_WORST_CASE_MS - RECORD_MARGIN_MS;
  const { listeners } = await listShard(deps.ddb, deps.tables, message.conversationId, shard, {
    consistent: true,
  });
  const run = jobs.flatMap((job) => job.records) as [QueueRecord, ...QueueRecord[]];
  const { report } = await postToListeners(
    deps,
    run,
    listeners,
    shardKey(message.conversationId, shard),
    postDeadline,
  );
  for (const record of run) recordLag(deps, record);
  logDelivery(deps.logger, 'Shard fanned out', report, {
    conversationId: message.conversationId,
    seqs: run.map((record) => record.seq),
    shard,
  });
}

/**
 * Runs the jobs of one shard in a batch: those before the first unreadable one as one run.
 * @returns the index of the first job that failed (it and the later ones go back to SQS), or undefined.
 */
async function processShardGroup(deps: ShardDeps, records: SQSRecord[]): Promise<number | undefined> {
  const jobs: ShardJob[] = [];
  let unreadable: number | undefined;
  for (const [index, record] of records.entries()) {
    try {
      jobs.push(readJob(record));
    } catch (err: unknown) {
      deps.logger.error('Shard job cannot be read; it will end in the shard DLQ', {
        messageId: record.messageId,
        error: err,
      });
      unreadable = index;
      break;
    }
  }
  const [first, ...rest] = jobs;
  if (first === undefined) return unreadable;
  try {
    await processShardRun(deps, [first, ...rest]);
  } catch (err: unknown) {
    deps.logger.error('Shard jobs failed; SQS will retry them and the rest of their shard', {
      messageIds: records.slice(0, jobs.length).map((record) => record.messageId),
      receiveCount: records[0]?.attributes.ApproximateReceiveCount,
      error: err,
    });
    return 0;
  }
  return unreadable;
}

/**
 * Runs a batch of shard jobs: each shard's jobs (one message group, in seq order) as one coalesced run,
 * the shards side by side. A failed run fails the later jobs of its shard, not the other shards; the
 * failures go back to SQS as batchItemFailures, and come back in seconds (./retry.ts). Each shard whose
 * run failed counts once as `fanoutFailures`.
 */
export function processShardBatch(deps: ShardDeps, event: SQSEvent): Promise<SQSBatchResponse> {
  const { sqs, shardQueueUrl } = deps;
  return processByGroup(
    {
      ...deps,
      ...(sqs === undefined || shardQueueUrl === undefined
        ? {}
        : { retry: { sqs, queueUrl: shardQueueUrl, logger: deps.logger } }),
    },
    event,
    (records) => processShardGroup(deps, records),
  );
}
