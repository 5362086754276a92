/**
 * The split of a sharded conversation's record into shard jobs: one message per shard on the FIFO shard
 * queue, its body the record as the fan-out queue carried it and its shard in the `shard` attribute. Each
 * shard is a message group of its own (`conversationId#n`), so one shard's jobs are posted in seq order
 * (a viewer sees no reordering) while the shards run in parallel. The FIFO consumer holds the
 * conversation's message group only for these sends (up to 10 entries per SendMessageBatch: 4 calls for
 * 32 shards and the base partition); a job that fails holds only its own shard, is retried alone, and
 * after maxReceiveCount waits in the shard DLQ.
 */
import { createHash } from 'node:crypto';
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { encodeQueueBody, type QueueRecord } from '../../shared/queue-body';
import { type ShardRead, shardKey } from '../../shared/store/connections';
import type { DeliveryReport } from './deliver';

/** The message attribute that names a job's shard (0 is the conversation's base partition). */
export const SHARD_ATTRIBUTE = 'shard';

/** SendMessageBatch takes at most 10 entries of at most 256 KiB together. */
const SEND_BATCH_MAX = 10;
const SEND_BATCH_MAX_BYTES = 256 * 1024;
/** What an entry adds to its body: its id and the shard attribute, generously. */
const ENTRY_OVERHEAD_BYTES = 100;

/** Sends of the entries SQS refused in a batch, before the record fails and is retried whole. */
const SEND_ATTEMPTS = 3;

/** The shards that get a job: every shard, and the base partition when subscriptions are left in it. */
export function shardsToPost(base: ShardRead): number[] {
  const shards = Array.from({ length: base.shards }, (_, index) => index + 1);
  return base.listeners.length > 0 ? [0, ...shards] : shards;
}

/**
 * Sends one job per shard of `base` for `record`. Entries SQS refuses are sent again; if some still
 * fail the record fails, so the fan-out queue retries it (the jobs already sent are deduplicated).
 * @throws Error when the shard queue is not configured or some jobs could not be sent.
 */
export async function splitIntoShards(
  deps: { sqs: Pick<SQSClient, 'send'>; shardQueueUrl?: string },
  record: QueueRecord,
  base: ShardRead,
): Promise<DeliveryReport> {
  const queueUrl = deps.shardQueueUrl;
  if (queueUrl === undefined) {
    throw new Error(`Conversation ${record.conversationId} is sharded but no shard queue is configured`);
  }
  const body = encodeQueueBody(record);
  // The body is printable ASCII (encodeQueueBody): its length is its size in bytes.
  const perBatch = Math.max(
    1,
    Math.min(SEND_BATCH_MAX, Math.floor(SEND_BATCH_MAX_BYTES / (body.length + ENTRY_OVERHEAD_BYTES))),
  );
  const shards = shardsToPost(base);
  // The same record split again (a FIFO retry after a refused entry) makes the same ids: SQS drops the
  // jobs it already has for five minutes.
  const digest = createHash('sha256').update(body).digest('base64url');
  let pending: SendMessageBatchRequestEntry[] = shards.map((shard) => ({
    Id: String(shard),
    MessageBody: body,
    MessageGroupId: shardKey(record.conversationId, shard),
    MessageDeduplicationId: `${shard}:${digest}`,
    MessageAttributes: { [SHARD_ATTRIBUTE]: { DataType: 'Number', StringValue: String(shard) } },
  }));
  for (let attempt = 1; attempt <= SEND_ATTEMPTS && pending.length > 0; attempt++) {
    const refused: SendMessageBatchRequestEntry[] = [];
    for (let start = 0; start < pending.length; start += perBatch) {
      const entries = pending.slice(start, start + perBatch);
      const { Failed = [] } = await deps.sqs.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
      );
      const failedIds = new Set(Failed.map((failure) => failure.Id));
      refused.push(...entries.filter((entry) => failedIds.has(entry.Id)));
    }
    pending = refused;
  }
  if (pending.length > 0) {
    throw new Error(
      `${pending.length} of ${shards.length} shard jobs of conversation ${record.conversationId} ` +
        `seq ${record.seq} could not be sent`,
    );
  }
  return {
    subscribers: base.listeners.length,
    delivered: 0,
    gone: 0,
    evicted: 0,
    expired: 0,
    failed: 0,
    shardJobs: shards.length,
  };
}
