/**
 * The FIFO batch discipline both fan-out consumers share (the fan-out queue and the shard queue): the
 * records of each message group in order, the groups side by side, and a failure that fails the rest of
 * its group, never another group, reported as SQS partial batch failures. The batch stops STOP_MARGIN_MS
 * before the invocation's end, reporting what is unfinished, and the failed records come back in seconds
 * (./retry.ts).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { runScoped } from '../../shared/invocation';
import type { MetricSink } from '../../shared/metrics';
import { type RetryDeps, retryFailedSoon } from './retry';

/**
 * What a batch keeps of the invocation when it stops: time to shorten the failed records' visibility
 * (./retry.ts) and return, so the function reports its batch instead of being killed with it in flight
 * (which would keep every record, delivered or not, hidden for the whole visibility timeout).
 */
export const STOP_MARGIN_MS = 2_000;

/**
 * Each attempt of the consumers' DynamoDB, SQS and EventBridge calls fails after this long (posts have
 * their own, shared/poster.ts): a service that stops answering costs a call its SDK's attempts (4 for
 * DynamoDB) times this, not the whole invocation. Far above what these calls take when the service answers (milliseconds).
 */
export const REQUEST_TIMEOUT_MS = 3_000;

/** How far a group got: its first `done` records are finished (delivered, or moved to the DLQ). */
export interface GroupProgress {
  done: number;
}

export interface BatchDeps {
  metrics: MetricSink;
  logger: Pick<Logger, 'warn'>;
  /** The invocation's remaining time (Lambda context); absent means no deadline. */
  remainingTimeMs?: () => number;
  /** The queue the batch came from: failed records come back in seconds. Absent: after its visibility timeout. */
  retry?: RetryDeps;
}

/** Resolves when `signal` aborts (never, for a signal that does not). */
function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/**
 * Runs `processGroup` on each message group of `event` (its records in queue order), the groups at once.
 * It returns the index of its first record that failed, or undefined: that record and the later ones of
 * the group go back to SQS as batchItemFailures, in the batch's order. A group still running
 * STOP_MARGIN_MS before the invocation's end is stopped: its unfinished records fail too, and the AWS
 * calls it would still make are refused (shared/invocation.ts `runScoped`), so nothing of it lands
 * behind its retry. `fanoutFailures` counts each group that failed once: the records held back behind a
 * failure are redelivered but did not fail.
 */
export async function processByGroup(
  deps: BatchDeps,
  event: SQSEvent,
  processGroup: (records: SQSRecord[], progress: GroupProgress) => Promise<number | undefined>,
): Promise<SQSBatchResponse> {
  const groups = new Map<string, SQSRecord[]>();
  for (const record of event.Records) {
    const group = record.attributes.MessageGroupId ?? record.messageId;
    groups.set(group, [...(groups.get(group) ?? []), record]);
  }
  const stop = new AbortController();
  const remaining = deps.remainingTimeMs?.();
  const timer =
    remaining === undefined
      ? undefined
      : setTimeout(() => stop.abort(), Math.max(0, remaining - STOP_MARGIN_MS));
  const stopped = whenAborted(stop.signal);
  const failed = new Set<string>();
  let failedGroups = 0;
  let unfinished = 0;
  try {
    await Promise.all(
      [...groups.values()].map(async (records) => {
        const progress: GroupProgress = { done: 0 };
        const outcome = await Promise.race([
          runScoped('fanout', stop.signal, () => processGroup(records, progress)).then((failedAt) => ({
            failedAt,
            stopped: false,
          })),
          stopped.then(() => ({
            failedAt: progress.done < records.length ? progress.done : undefined,
            stopped: true,
          })),
        ]);
        if (outcome.failedAt === undefined) return;
        if (outcome.stopped) unfinished += records.length - outcome.failedAt;
        failedGroups++;
        for (const record of records.slice(outcome.failedAt)) failed.add(record.messageId);
      }),
    );
  } finally {
    clearTimeout(timer);
  }
  if (unfinished > 0) {
    deps.logger.warn('Stopped before the function timeout; unfinished records are retried', { unfinished });
  }
  const batchItemFailures = event.Records.filter((record) => failed.has(record.messageId)).map((record) => ({
    itemIdentifier: record.messageId,
  }));
  if (failedGroups > 0) deps.metrics.record('fanoutFailures', failedGroups);
  const response = { batchItemFailures };
  if (deps.retry !== undefined) await retryFailedSoon(deps.retry, event, response);
  return response;
}
