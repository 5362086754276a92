/**
 * The split of a sharded conversation's run of records into shard jobs: one message per shard on the FIFO
 * shard queue, its body the run's records (a lone record as the fan-out queue carried it, several as a
 * JSON array of them, up to JOB_MAX_BYTES a job) and its shard in the `shard` attribute. Each
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
import { SHARD_ATTRIBUTE } from './shard-job';

/**
 * The most a job's body holds of a run: one job per shard for a run of small records (so a viewer gets
 * the run in one post, and a room's tick holds), a few for a run of big ones. A lone record bigger than
 * this goes alone, as it always did.
 */
export const JOB_MAX_BYTES = 64 * 1024;

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

/** The records of a run packed into job bodies of consecutive records, each within JOB_MAX_BYTES. */
function packJobs(run: readonly QueueRecord[]): { body: string; seqs: number[] }[] {
  const jobs: { body: string; seqs: number[] }[] = [];
  let encoded: string[] = [];
  let seqs: number[] = [];
  const flush = () => {
    if (encoded.length === 0) return;
    jobs.push({ body: encoded.length === 1 ? (encoded[0] as string) : `[${encoded.join(',')}]`, seqs });
    encoded = [];
    seqs = [];
  };
  for (const record of run) {
    const next = encodeQueueBody(record);
    // The body is printable ASCII (encodeQueueBody): its length is its size in bytes.
    if (encoded.reduce((size, body) => size + body.length + 1, next.length + 1) > JOB_MAX_BYTES) flush();
    encoded.push(next);
    seqs.push(record.seq);
  }
  flush();
  return jobs;
}

/**
 * Sends the run's jobs to every shard of `base`: its records packed into as few job bodies as
 * JOB_MAX_BYTES allows (one for a run of small records), body after body so that a shard gets them in
 * seq order. Entries SQS refuses are sent again; if some still fail the run fails, so the fan-out queue
 * retries it (the jobs already sent are deduplicated).
 * @throws Error when the shard queue is not configured or some jobs could not be sent.
 */
export async function splitIntoShards(
  deps: { sqs: Pick<SQSClient, 'send'>; shardQueueUrl?: string },
  run: readonly [QueueRecord, ...QueueRecord[]],
  base: ShardRead,
): Promise<DeliveryReport> {
  const [{ conversationId }] = run;
  const queueUrl = deps.shardQueueUrl;
  if (queueUrl === undefined) {
    throw new Error(`Conversation ${conversationId} is sharded but no shard queue is configured`);
  }
  let shardJobs = 0;
  for (const job of packJobs(run)) {
    shardJobs += await sendJobs(deps.sqs, queueUrl, conversationId, job, base);
  }
  return {
    subscribers: base.listeners.length,
    delivered: 0,
    gone: 0,
    evicted: 0,
    expired: 0,
    failed: 0,
    shardJobs,
  };
}

/**
 * Sends one job body to every shard of `base`, 10 entries per SendMessageBatch.
 * @returns the number of jobs sent.
 * @throws Error when some jobs could not be sent.
 */
async function sendJobs(
  sqs: Pick<SQSClient, 'send'>,
  queueUrl: string,
  conversationId: string,
  { body, seqs }: { body: string; seqs: number[] },
  base: ShardRead,
): Promise<number> {
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
    MessageGroupId: shardKey(conversationId, shard),
    MessageDeduplicationId: `${shard}:${digest}`,
    MessageAttributes: { [SHARD_ATTRIBUTE]: { DataType: 'Number', StringValue: String(shard) } },
  }));
  for (let attempt = 1; attempt <= SEND_ATTEMPTS && pending.length > 0; attempt++) {
    const refused: SendMessageBatchRequestEntry[] = [];
    for (let start = 0; start < pending.length; start += perBatch) {
      const entries = pending.slice(start, start + perBatch);
      const { Failed = [] } = await sqs.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
      );
      const failedIds = new Set(Failed.map((failure) => failure.Id));
      refused.push(...entries.filter((entry) => failedIds.has(entry.Id)));
    }
    pending = refused;
  }
  if (pending.length > 0) {
    const which = seqs.length === 1 ? `seq ${seqs[0]}` : `seqs ${seqs[0]}-${seqs.at(-1)}`;
    throw new Error(
      `${pending.length} of ${shards.length} shard jobs of conversation ${conversationId} ${which} could not be sent`,
    );
  }
  return shards.length;
}
