/**
 * Best-effort pushes of ephemeral events (typing, presence): one frame to a set of connections, a
 * bounded number at a time and within a time budget, straight through the management API. Nothing is
 * stored or queued, so a lost event stays lost: typing repeats every few seconds while the user types,
 * and a `presence` query gives the current picture. Such an event never takes the FIFO message path,
 * so it can never delay a message.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@aws-lambda-powertools/logger';
import { mapWithConcurrency } from './concurrency';
import {
  createManagementClient,
  createPoster,
  type PosterOptions,
  type PostFn,
  type PostResult,
} from './poster';

/**
 * Retry little and give up fast: a typing indicator retried for seconds is stale when it lands. Two
 * attempts of 1 s each plus < 0.2 s of backoff bound the time one connection can hold a slot.
 */
export const EPHEMERAL_POSTER_OPTIONS: PosterOptions = {
  maxAttempts: 2,
  baseDelayMs: 50,
  maxDelayMs: 200,
  timeoutMs: 1_000,
};

/** The poster of a function that posts ephemeral events, on the management API at `endpoint`. */
export function createEphemeralPoster(endpoint: string): PostFn {
  return createPoster({
    client: createManagementClient(endpoint, EPHEMERAL_POSTER_OPTIONS.timeoutMs),
    sleep: (ms) => sleep(ms),
    random: Math.random,
    options: EPHEMERAL_POSTER_OPTIONS,
  });
}

/** Posts in flight at once. */
export const EPHEMERAL_CONCURRENCY = 10;

/**
 * No post is started later than this after the first: the answer (or `$disconnect`) never waits more
 * than the budget plus one post's worst case (≈ 2.2 s). Connections left over are counted as skipped.
 */
export const EPHEMERAL_BUDGET_MS = 3_000;

export interface EphemeralReport {
  targets: number;
  delivered: number;
  /** Answered 410. Ignored: the next message fan-out, `$disconnect` or TTL removes that connection. */
  gone: number;
  failed: number;
  /** Not attempted: the time budget ran out first. */
  skipped: number;
}

export interface EphemeralOptions {
  /** @default EPHEMERAL_CONCURRENCY */
  concurrency?: number;
  /** @default EPHEMERAL_BUDGET_MS */
  budgetMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Posts `data` once to each distinct connection, `concurrency` at a time, starting no post after the
 * budget. It never throws and never writes: an ephemeral event does not pay for cleaning up a gone
 * connection.
 */
export async function postEphemeral(
  post: PostFn,
  connectionIds: readonly string[],
  data: string,
  options: EphemeralOptions = {},
): Promise<EphemeralReport> {
  return (await postEphemeralTo(post, connectionIds, data, options)).report;
}

/** {@link postEphemeral}, also telling which connections the frame reached. */
export async function postEphemeralTo(
  post: PostFn,
  connectionIds: readonly string[],
  data: string,
  options: EphemeralOptions = {},
): Promise<{ report: EphemeralReport; reached: ReadonlySet<string> }> {
  const now = options.now ?? Date.now;
  const deadline = now() + (options.budgetMs ?? EPHEMERAL_BUDGET_MS);
  const targets = [...new Set(connectionIds)];
  const report: EphemeralReport = { targets: targets.length, delivered: 0, gone: 0, failed: 0, skipped: 0 };
  const reached = new Set<string>();
  const settled = await mapWithConcurrency(
    targets,
    options.concurrency ?? EPHEMERAL_CONCURRENCY,
    async (connectionId): Promise<'skipped' | PostResult['status']> =>
      now() >= deadline ? 'skipped' : (await post(connectionId, data)).status,
  );
  settled.forEach((outcome, index) => {
    const status = outcome.status === 'fulfilled' ? outcome.value : 'failed';
    report[status]++;
    if (status === 'delivered') reached.add(targets[index] ?? '');
  });
  return { report, reached };
}

/**
 * Logs what an ephemeral post did: at debug level, or as a warning when the budget ran out before every
 * connection was tried (those events are dropped, and the warning counts them).
 */
export function logEphemeral(
  logger: Pick<Logger, 'debug' | 'warn'>,
  what: string,
  report: EphemeralReport,
): void {
  if (report.skipped > 0) logger.warn(`${what}: time budget spent, posts dropped`, { ...report });
  else logger.debug(what, { ...report });
}
