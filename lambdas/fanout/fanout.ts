/**
 * Where a stored message is fanned out: each record of the SQS FIFO fan-out queue carries one
 * ChatMessage, an edit or delete of one, or a membership change (shared/queue-body.ts), which is pushed to every connection
 * subscribed to its conversation. Records are
 * processed in queue order within their message group (conversation), the groups side by side; a record
 * that fails fails the rest of its group so retries never reorder it, while other conversations in the
 * same batch carry on. A room with a tick holds its group after each batch (see {@link holdForTick}).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { parseQueueBody, type QueueRecord } from '../../shared/queue-body';
import { listShard } from '../../shared/store/connections';
import type { TableNames } from '../../shared/tables';
import {
  DEFAULT_CONCURRENCY,
  type DeliveryDeps,
  type DeliveryReport,
  logDelivery,
  POST_WORST_CASE_MS,
  postToListeners,
  RECORD_MARGIN_MS,
  recordLag,
} from './deliver';
import { type GroupProgress, processByGroup } from './groups';
import { notifyBeyondSubscribers } from './offline';
import { sendPoisonToDeadLetterQueue } from './poison';
import { splitIntoShards } from './split';

export {
  DEFAULT_CONCURRENCY,
  type DeliveryReport,
  FanoutDeliveryError,
  POST_WORST_CASE_MS,
  RECORD_MARGIN_MS,
  toPushFrame,
} from './deliver';

/**
 * Time a record may need: a hung connection costs every poster attempt at its timeout plus backoff
 * (4 × 3 s + < 1 s). A record is not started with less time left, so a batch rarely needs its stop
 * (./groups.ts: a run still going STOP_MARGIN_MS before the end is reported for retry, delivered or not).
 */
export const DEFAULT_RECORD_BUDGET_MS = 15_000;

export interface FanoutDeps extends DeliveryDeps {
  sqs: Pick<SQSClient, 'send'>;
  /**
   * With `conversations`, a message also reaches members beyond its subscribers (./offline.ts): an
   * `activity` frame on their other connections, and an offline event on `eventBusName`.
   */
  tables: Pick<TableNames, 'connections' | 'subscriptions'> & Partial<Pick<TableNames, 'conversations'>>;
  /** The offline-member bus; without it no offline events are put. */
  eventBridge?: Pick<EventBridgeClient, 'send'>;
  eventBusName?: string;
  deadLetterQueueUrl: string;
  /** The fan-out queue itself: a failed record's visibility is shortened there (./retry.ts). */
  fanoutQueueUrl?: string;
  /** The FIFO queue of shard jobs (./split.ts); a sharded conversation's records fail without it. */
  shardQueueUrl?: string;
  /**
   * The invocation's remaining time (Lambda context); absent means no deadline. The batch stops
   * STOP_MARGIN_MS before its end (./groups.ts).
   */
  remainingTimeMs?: () => number;
  /** @default DEFAULT_RECORD_BUDGET_MS */
  recordBudgetMs?: number;
  /** Waits `ms` (a ticked room's hold). @default node:timers/promises setTimeout */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Delivers a run of records of one conversation, in seq order (one, or several that the FIFO event
 * source handed together). The base partition of the conversation's subscriptions is read consistently
 * (a subscription acked a moment ago must already receive the next message, G5): for a small
 * conversation that is every subscriber, and each gets the run's pushes coalesced into as few posts as
 * the billing unit allows (one record: its push, as before), then each message does what it does beyond
 * its subscribers (./offline.ts). A sharded conversation's base partition holds its marker: the run is
 * split into one job per shard (./split.ts), and the FIFO group moves on while the jobs post. The
 * marker also carries a room's tick, which the report passes on (`tickMs`) at no extra request.
 * @throws FanoutDeliveryError when the run must be retried.
 */
export async function deliverRun(
  deps: FanoutDeps,
  run: readonly [QueueRecord, ...QueueRecord[]],
  postDeadline = Number.POSITIVE_INFINITY,
): Promise<DeliveryReport> {
  const [{ conversationId }] = run;
  const base = await listShard(deps.ddb, deps.tables, conversationId, 0, { consistent: true });
  if (base.shards > 0) return { ...(await splitIntoShards(deps, run, base)), ...ticked(base.tickMs) };
  const { report, reachedUsers } = await postToListeners(
    deps,
    run,
    base.listeners,
    conversationId,
    postDeadline,
  );
  Object.assign(report, ticked(base.tickMs));
  const conversations = deps.tables.conversations;
  if (conversations === undefined) return report;
  for (const message of run) {
    if ('kind' in message) continue;
    const beyond = await notifyBeyondSubscribers(
      {
        ...deps,
        tables: { conversations, connections: deps.tables.connections },
        concurrency: deps.concurrency ?? DEFAULT_CONCURRENCY,
      },
      message,
      // An expired subscription is no reason to reach its connection another way.
      {
        subscribedConnections: new Set(base.listeners.map((listener) => listener.connectionId)),
        reachedUsers,
      },
    );
    report.offline = (report.offline ?? 0) + beyond.offline;
    report.activity = (report.activity ?? 0) + beyond.activity;
  }
  return report;
}

const ticked = (tickMs: number): Pick<DeliveryReport, 'tickMs'> => (tickMs > 0 ? { tickMs } : {});

/** Delivers one record (see {@link deliverRun}). */
export function deliverMessage(
  deps: FanoutDeps,
  message: QueueRecord,
  postDeadline = Number.POSITIVE_INFINITY,
): Promise<DeliveryReport> {
  return deliverRun(deps, [message], postDeadline);
}

/** Moves a record whose body can never be processed to the dead-letter queue, marked poison. */
async function movePoison(deps: FanoutDeps, record: SQSRecord, reason: string): Promise<void> {
  deps.logger.error('Poison record moved to the dead-letter queue', {
    messageId: record.messageId,
    messageGroupId: record.attributes.MessageGroupId,
    reason,
  });
  await sendPoisonToDeadLetterQueue(deps, record, reason);
}

/**
 * Delivers the parsed records of one group that came together as one run, with their lag, log line and
 * error log.
 * @returns the conversation's tick (0: none).
 * @throws when delivery failed.
 */
async function processParsedRun(
  deps: FanoutDeps,
  run: readonly [{ record: SQSRecord; body: QueueRecord }, ...{ record: SQSRecord; body: QueueRecord }[]],
  remaining: number | undefined,
): Promise<number> {
  const bodies = run.map((item) => item.body) as [QueueRecord, ...QueueRecord[]];
  const [first] = bodies;
  deps.logger.appendKeys({ conversationId: first.conversationId, seq: first.seq });
  const postDeadline =
    remaining === undefined
      ? Number.POSITIVE_INFINITY
      : (deps.now ?? Date.now)() + remaining - POST_WORST_CASE_MS - RECORD_MARGIN_MS;
  try {
    const report = await deliverRun(deps, bodies, postDeadline);
    // A split record's lag is its shard jobs' to measure: they do the posting.
    if (report.shardJobs === undefined) for (const body of bodies) recordLag(deps, body);
    const kinds = bodies.map((body) => ('kind' in body ? body.kind : 'message'));
    logDelivery(deps.logger, 'Message fanned out', report, {
      kind: kinds.length === 1 ? kinds[0] : kinds,
      ...(bodies.length === 1 ? {} : { seqs: bodies.map((body) => body.seq) }),
    });
    return report.tickMs ?? 0;
  } catch (err: unknown) {
    deps.logger.error('Fan-out failed; SQS will retry the record and the rest of its group', {
      messageId: run[0].record.messageId,
      error: err,
    });
    throw err;
  } finally {
    deps.logger.removeKeys(['conversationId', 'seq']);
  }
}

/**
 * Holds a ticked room's message group until `tickMs` after its batch began. Lambda's FIFO event source
 * hands a group's next records only once this invocation returns (they stay locked in flight meanwhile),
 * and a batching window is not supported for FIFO queues: so whatever the room receives during the hold
 * comes as the next batch, one coalesced run, and a viewer gets at most about one frame per tick. The
 * first message after a quiet spell goes out at once; the hold never reaches into the invocation's last
 * RECORD_MARGIN_MS.
 */
async function holdForTick(deps: FanoutDeps, startedAt: number, tickMs: number): Promise<void> {
  if (tickMs <= 0) return;
  const now = deps.now ?? Date.now;
  const left = (deps.remainingTimeMs?.() ?? Number.POSITIVE_INFINITY) - RECORD_MARGIN_MS;
  const wait = Math.min(startedAt + tickMs - now(), left);
  if (wait > 0) await (deps.sleep ?? sleep)(wait);
}

/**
 * Processes consecutive records of one message group: runs of valid records are delivered together
 * (coalesced, see {@link deliverRun}); a poison body goes to the dead-letter queue and counts as processed.
 * No run starts with less than the record budget left of the invocation. A ticked room's group is held
 * after it succeeds ({@link holdForTick}); a failure returns at once, so its retry is never delayed.
 * `progress.done` follows the records finished, for a batch that stops before the group ends.
 * @returns the index of the first record that failed (it and the later ones are retried), or undefined.
 */
async function processGroup(
  deps: FanoutDeps,
  records: readonly SQSRecord[],
  progress: GroupProgress = { done: 0 },
): Promise<{ failedAt: number; error: unknown } | undefined> {
  const budget = deps.recordBudgetMs ?? DEFAULT_RECORD_BUDGET_MS;
  const startedAt = (deps.now ?? Date.now)();
  let tickMs = 0;
  while (progress.done < records.length) {
    const start = progress.done;
    const remaining = deps.remainingTimeMs?.();
    if (remaining !== undefined && remaining < budget) {
      const error = new Error(
        `Only ${remaining} ms left of the invocation; the record is left for the next one`,
      );
      return { failedAt: start, error };
    }
    const run: { record: SQSRecord; body: QueueRecord }[] = [];
    let next = start;
    for (; next < records.length; next++) {
      const record = records[next] as SQSRecord;
      const parsed = parseQueueBody(record.body);
      if (!parsed.ok) {
        if (run.length > 0) break;
        try {
          await movePoison(deps, record, parsed.reason);
        } catch (error: unknown) {
          return { failedAt: next, error };
        }
        progress.done = next + 1;
        continue;
      }
      run.push({ record, body: parsed.record });
    }
    const [head, ...tail] = run;
    if (head === undefined) continue;
    try {
      tickMs = Math.max(tickMs, await processParsedRun(deps, [head, ...tail], remaining));
    } catch (error: unknown) {
      return { failedAt: progress.done, error };
    }
    progress.done = next;
  }
  await holdForTick(deps, startedAt, tickMs);
  return undefined;
}

/**
 * Processes one fan-out record: a poison body goes to the dead-letter queue and counts as processed;
 * anything else is delivered to every subscriber.
 * @throws when delivery failed, so the batch processor reports the record (and its group) for retry.
 */
export async function processRecord(deps: FanoutDeps, record: SQSRecord): Promise<void> {
  const failure = await processGroup(deps, [record]);
  if (failure !== undefined) throw failure.error;
}

/**
 * Processes a FIFO batch: each message group (conversation) in order, the groups at the same time, so a
 * slow conversation holds up only its own records. The records of a group are delivered as one run
 * (coalesced per connection, see {@link deliverRun}). A failed run fails every later record of its group
 * but not other groups; the failures go back to SQS as batchItemFailures (SQS redelivers only those).
 * FanoutFailures counts each run that failed once: the later records of a group, only held back behind
 * it, are redelivered but did not fail.
 */
export function processFanoutBatch(deps: FanoutDeps, event: SQSEvent): Promise<SQSBatchResponse> {
  const { fanoutQueueUrl } = deps;
  return processByGroup(
    {
      ...deps,
      ...(fanoutQueueUrl === undefined ? {} : { retry: { ...deps, queueUrl: fanoutQueueUrl } }),
    },
    event,
    async (records, progress) => (await processGroup(deps, records, progress))?.failedAt,
  );
}
