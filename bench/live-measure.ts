/**
 * What the live parts (bench/live.ts) measure besides the clients: paced traffic, the functions' own
 * PostToConnection round trips, the fan-out's invocations, frames per socket per second, and the
 * dead-letter queues. Everything runs in the bench's process, so one clock (`performance.now()`) times
 * the sender, the functions and every receiver.
 */
import * as diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { type InvocationRecord, observeInvocations } from '../local/functions';
import type { LocalRuntime } from '../local/runtime';
import { percentile } from './subscribe';

/** How the live parts run. */
export interface LiveOptions {
  /** How long the senders keep sending. @default 30 */
  seconds: number;
  /** The live room's tick (createRoom's `tickMs`; 0: off). @default 250 */
  tickMs: number;
}

/** `p50 / p95 / max` of milliseconds, e.g. `120 ms / 480 ms / 1,020 ms`. */
export function spread(values: number[]): string {
  const ms = (value: number) => `${Math.round(value).toLocaleString('en-US')} ms`;
  return `${ms(percentile(values, 50))} / ${ms(percentile(values, 95))} / ${ms(percentile(values, 100))}`;
}

/** The 1-minute load average, one decimal: the machine is shared, and every number depends on it. */
const load = (): string => (loadavg()[0] ?? Number.NaN).toFixed(1);

/**
 * Starts `fire(i)` for i = 0..count-1 at `perSecond`, each on its own schedule (not after the previous
 * one finished, as real senders do), and resolves with their results and the rate actually kept.
 */
async function paced<T>(
  count: number,
  perSecond: number,
  fire: (i: number) => Promise<T>,
): Promise<{ results: T[]; firedInMs: number }> {
  const started = performance.now();
  const pending: Promise<T>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = started + (i * 1000) / perSecond - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(fire(i));
  }
  const firedInMs = performance.now() - started;
  return { results: await Promise.all(pending), firedInMs };
}

/**
 * Times every PostToConnection the functions make, from the request's start to the end of its answer, as
 * the function awaits it (the `node:http` client's diagnostics channels: the AWS SDK posts through it).
 */
function watchPosts(): { durations: number[]; stop(): void } {
  const started = new WeakMap<ClientRequest, number>();
  const durations: number[] = [];
  const onStart = (message: unknown) => {
    const { request } = message as { request: ClientRequest };
    if (request.method === 'POST' && request.path.includes('/@connections/'))
      started.set(request, performance.now());
  };
  const onFinish = (message: unknown) => {
    const at = started.get((message as { request: ClientRequest }).request);
    if (at !== undefined) durations.push(performance.now() - at);
  };
  diagnostics.subscribe('http.client.request.start', onStart);
  diagnostics.subscribe('http.client.response.finish', onFinish);
  return {
    durations,
    stop() {
      diagnostics.unsubscribe('http.client.request.start', onStart);
      diagnostics.unsubscribe('http.client.response.finish', onFinish);
    },
  };
}

/** The invocations of the fan-out's functions (the FIFO consumer and the shard worker) while watched. */
function watchFanout(): { invocations: InvocationRecord[]; stop(): void } {
  const invocations: InvocationRecord[] = [];
  const stop = observeInvocations((record) => {
    if (record.functionName === 'fanout' || record.functionName === 'fanoutShard') invocations.push(record);
  });
  return { invocations, stop: () => void stop() };
}

/** One line on a function's invocations: how many, SQS records per batch, duration p50 / p95 / max. */
function invocationLine(invocations: InvocationRecord[], functionName: string): string {
  const own = invocations.filter((record) => record.functionName === functionName);
  if (own.length === 0) return 'none';
  const records = own.reduce((sum, record) => sum + (record.records ?? 0), 0);
  return `${own.length} (${(records / own.length).toFixed(1)} records per batch), ${spread(own.map((record) => record.durationMs))}`;
}

/**
 * Frames a socket received per second: the mean over the window and the busiest one-second bucket of
 * any socket, from each socket's frame arrival times.
 */
export function frameRates(
  arrivals: readonly (readonly number[])[],
  from: number,
  to: number,
): { mean: number; busiestSecond: number } {
  const seconds = Math.max(1, Math.ceil((to - from) / 1000));
  let total = 0;
  let busiestSecond = 0;
  for (const times of arrivals) {
    const buckets = new Array<number>(seconds).fill(0);
    for (const at of times) {
      if (at < from || at >= from + seconds * 1000) continue;
      const bucket = Math.floor((at - from) / 1000);
      buckets[bucket] = (buckets[bucket] ?? 0) + 1;
      total++;
    }
    busiestSecond = Math.max(busiestSecond, ...buckets);
  }
  return { mean: total / Math.max(1, arrivals.length) / ((to - from) / 1000), busiestSecond };
}

/** Letters waiting or in flight in the fan-out's and the shard jobs' dead-letter queues. */
async function deadLetters(runtime: LocalRuntime): Promise<{ fanout: number; shards: number }> {
  const depth = async (url: string) => {
    const { Attributes } = await runtime.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
    );
  };
  return {
    fanout: await depth(runtime.queues.deadLetter.url),
    shards: await depth(runtime.queues.shardDeadLetter.url),
  };
}

/** Polls `check` every 50 ms until it holds or `timeoutMs` passed; says which. */
export async function settle(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * Watches the functions behind delivery from now on: their PostToConnection round trips and the fan-out's
 * invocations. `rows` stops watching and tells them, with the dead letters of both queues.
 */
export function watchPipeline(runtime: LocalRuntime): { rows(): Promise<[string, string][]> } {
  const posts = watchPosts();
  const fanout = watchFanout();
  return {
    async rows() {
      posts.stop();
      fanout.stop();
      const letters = await deadLetters(runtime);
      return [
        [
          '… PostToConnection in the functions, p50 / p95 / max',
          `${spread(posts.durations)} (${posts.durations.length} posts, a wait for one of the client's 50 sockets included)`,
        ],
        [
          '… FIFO consumer invocations, duration p50 / p95 / max',
          invocationLine(fanout.invocations, 'fanout'),
        ],
        ['… shard jobs, duration p50 / p95 / max', invocationLine(fanout.invocations, 'fanoutShard')],
        ['… dead letters (fan-out / shards)', `${letters.fanout} / ${letters.shards}`],
      ];
    },
  };
}

/**
 * Send-to-screen of every message at every receiver but its sender (who sees it through its ack):
 * `shownAt` says when a receiver held message `i`, undefined while it does not.
 */
export function sendToScreen<R>(
  receivers: readonly R[],
  sent: readonly { sender: R; at: number }[],
  shownAt: (receiver: R, i: number) => number | undefined,
): { latencies: number[]; missing: number } {
  const latencies: number[] = [];
  let missing = 0;
  for (const receiver of receivers) {
    sent.forEach(({ sender, at }, i) => {
      if (sender === receiver) return;
      const shown = shownAt(receiver, i);
      if (shown === undefined) missing++;
      else latencies.push(shown - at);
    });
  }
  return { latencies, missing };
}

/** Paced traffic and its delivery, timed from the first send. */
export interface Traffic<T> {
  sent: T[];
  /** `performance.now()` of the first send. */
  started: number;
  ackedInMs: number;
  drainedInMs: number;
  /** Every receiver held every message before the wait ended. */
  complete: boolean;
  /** The first row of a part: what was sent, when it was acked and delivered, the load around it. */
  summary: string;
}

/**
 * Sends `count` messages at `perSecond` (`send(i)` resolves once message i is acked), then waits up to
 * `drainMs` until `delivered()` holds: what every live part does between its setup and its report.
 */
export async function runTraffic<T>(options: {
  count: number;
  perSecond: number;
  send: (i: number) => Promise<T>;
  delivered: () => boolean;
  drainMs: number;
}): Promise<Traffic<T>> {
  const loadBefore = load();
  const started = performance.now();
  const { results: sent, firedInMs } = await paced(options.count, options.perSecond, options.send);
  const ackedInMs = performance.now() - started;
  const complete = await settle(options.delivered, options.drainMs);
  const drainedInMs = performance.now() - started;
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const summary =
    `${options.count} sent in ${seconds(firedInMs)}, all acked after ${seconds(ackedInMs)}, ` +
    `${complete ? 'delivered everywhere' : 'NOT delivered everywhere'} after ${seconds(drainedInMs)}; ` +
    `load average ${loadBefore} → ${load()}`;
  return { sent, started, ackedInMs, drainedInMs, complete, summary };
}
