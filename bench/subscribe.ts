/**
 * `npm run bench -- subscribe`: a room's whole audience subscribes (issue 17: 2,000 sockets in under 15 s
 * locally). The audience is the bill's room (bench/scenarios.ts): its members joined and their sockets
 * open before the clock starts; then the sockets subscribe IN_FLIGHT at a time, as viewers arriving for a
 * live event do, each resending after a `busy` answer's retryAfterMs as the SDK does. Nothing in the
 * per-user or per-connection limits holds them back: each member's few sockets take a few tokens of a
 * read budget whose burst is far larger.
 */
import { loadavg } from 'node:os';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import type { LocalRuntime } from '../local/runtime';
import { type AwsRequest, observeAwsRequests } from '../shared/invocation';
import { LIMITS } from '../shared/limits';
import { ChatClient } from '../test/e2e/chat-client';
import { closeAll, gatherAudience, requestUntilAcked } from './audience';
import type { SendStats } from './burst';
import { operationName } from './meter';
import { ROOM_SOCKETS, ROOM_SOCKETS_PER_MEMBER } from './scenarios';

/** The `p`th percentile of `values` (nearest rank). */
export const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

/**
 * Subscribes in flight at once: each socket subscribes as soon as one of these finishes. `--all-at-once`
 * sends every socket's subscribe at the same moment instead. Before the local runtime had admission
 * control (local/admission.ts), all 2,000 at once (measured 2026-12-07 at load average 17–26: 34,230
 * `busy` answers, 1,929 never acked after 20 attempts) advanced together through DynamoDB Local, every
 * one missed the function's 9 s deadline, and their resends kept it saturated.
 */
const IN_FLIGHT = 100;

/** The subscribe part's flags: `--all-at-once`. */
export interface SubscribeOptions {
  allAtOnce: boolean;
}

/** Takes the subscribe part's flags out of `args`; `rest` is what is left for the other parts. */
export function subscribeOptions(args: string[]): { options: SubscribeOptions; rest: string[] } {
  return {
    options: { allAtOnce: args.includes('--all-at-once') },
    rest: args.filter((arg) => arg !== '--all-at-once'),
  };
}

/** AWS requests by function, then by `Service.Operation`, while `work` runs. */
async function countRequests(work: () => Promise<void>): Promise<Record<string, Record<string, number>>> {
  const counts: Record<string, Record<string, number>> = {};
  const stop = observeAwsRequests((request: AwsRequest) => {
    const fn = request.functionName ?? '(no function)';
    const calls = counts[fn] ?? {};
    counts[fn] = calls;
    const operation = operationName(request.client, request.command);
    calls[operation] = (calls[operation] ?? 0) + 1;
  });
  try {
    await work();
  } finally {
    stop();
  }
  return counts;
}

/** Per subscribe, e.g. `5.02 (DynamoDB.GetItem 2.00, …)`. */
function perSubscribe(calls: Record<string, number>, subscribes: number): string {
  const total = Object.values(calls).reduce((sum, n) => sum + n, 0);
  const each = Object.entries(calls)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([operation, n]) => `${operation} ${(n / subscribes).toFixed(2)}`);
  return `${(total / subscribes).toFixed(2)} (${each.join(', ')})`;
}

/**
 * Items in a conversation's base partition (its subscriptions before the marker, and the marker): what
 * the fan-out's shard 0 job posts to. A crowd arriving at once all read it before any of them is stored,
 * so it may hold more than the threshold.
 */
async function basePartitionSize(runtime: LocalRuntime, conversationId: string): Promise<number> {
  let count = 0;
  let startKey: Record<string, never> | undefined;
  do {
    const page = await runtime.clients.dynamodb.send(
      new QueryCommand({
        TableName: runtime.tables.subscriptions,
        KeyConditionExpression: 'conversationId = :c',
        ExpressionAttributeValues: { ':c': { S: conversationId } },
        Select: 'COUNT',
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    count += page.Count ?? 0;
    startKey = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (startKey !== undefined);
  return count;
}

/**
 * Subscribes the room audience's every socket, IN_FLIGHT at a time or all at once, and adds its rows to
 * `rows`.
 */
export async function measureSubscribe(
  runtime: LocalRuntime,
  rows: [string, string][],
  options: SubscribeOptions = { allAtOnce: false },
): Promise<void> {
  const connect = async (userId: string) => ChatClient.connect(await runtime.connectUrl(userId));
  const audience = await gatherAudience(
    { runtime, connect },
    {
      tag: 'bench-subscribe',
      kind: 'room',
      members: ROOM_SOCKETS / ROOM_SOCKETS_PER_MEMBER,
      socketsPerMember: ROOM_SOCKETS_PER_MEMBER,
    },
  );
  try {
    const { conversationId, sockets } = audience;
    const stats: SendStats = { resentUnanswered: 0, busyAnswers: 0 };
    const latencies: number[] = [];
    /** Subscribes refused for good, or still unanswered after every attempt. */
    const failures: string[] = [];
    const loadBefore = loadavg()[0] ?? Number.NaN;
    const started = performance.now();
    let next = 0;
    const inFlight = options.allAtOnce ? sockets.length : IN_FLIGHT;
    const calls = await countRequests(async () => {
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          for (let socket = sockets[next++]; socket !== undefined; socket = sockets[next++]) {
            const t0 = performance.now();
            try {
              await requestUntilAcked(socket, { action: 'subscribe', conversationId }, stats);
              latencies.push(performance.now() - t0);
            } catch (err: unknown) {
              failures.push(err instanceof Error ? err.message : String(err));
            }
          }
        }),
      );
    });
    const elapsedMs = performance.now() - started;
    const loadAfter = loadavg()[0] ?? Number.NaN;
    const n = sockets.length.toLocaleString('en-US');
    rows.push([
      `${n} sockets subscribe to one room, ${options.allAtOnce ? 'all at once' : `${IN_FLIGHT} at a time`} (${audience.members.length} members × ${ROOM_SOCKETS_PER_MEMBER})`,
      `${(elapsedMs / 1000).toFixed(1)} s first subscribe → last ack (${(sockets.length / (elapsedMs / 1000)).toFixed(0)}/s); load average ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}`,
    ]);
    rows.push([
      '… per subscribe, p50 / p95',
      `${percentile(latencies, 50).toFixed(0)} ms / ${percentile(latencies, 95).toFixed(0)} ms`,
    ]);
    rows.push([
      '… `busy` answers (resent after retryAfterMs) / resent unanswered / never acked',
      `${stats.busyAnswers} / ${stats.resentUnanswered} / ${failures.length}${failures.length > 0 ? ` (first: ${failures[0]})` : ''}`,
    ]);
    rows.push([
      '… items in the base partition (shard 0)',
      `${await basePartitionSize(runtime, conversationId)} (the marker is written at ${LIMITS.fanoutShardThreshold})`,
    ]);
    for (const [fn, byOperation] of Object.entries(calls).sort(([a], [b]) => a.localeCompare(b))) {
      rows.push([`… AWS calls per subscribe, ${fn}`, perSubscribe(byOperation, sockets.length)]);
    }
  } finally {
    await closeAll(audience.sockets);
  }
}
