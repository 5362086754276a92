/**
 * `npm run bench [part...]`: measures the local runtime (real handlers, DynamoDB Local, fauxqs) on this
 * machine, then counts what each bill scenario makes AWS do and prices it (bench/bill.ts). Local
 * numbers show the code path's overhead and its behaviour under contention; they are not AWS latencies.
 * Parts: `latency`, `hot`, `subscribe` (a 2,000-socket room subscribing, 100 in flight or with
 * `--all-at-once` all at once, bench/subscribe.ts), `sustained-group` and `live-room` (issue 17's live
 * targets, bench/live.ts; `--seconds N` and `--tick MS` set them), `bundles` (the Lambda bundles' sizes
 * and load times, bench/bundles.ts), each bill scenario's id, or `bill` for all of them; none means
 * everything. `--concurrency N` (or `off`) sets the local runtime's invocations of each function at once
 * (local/admission.ts).
 */

import { parseConcurrency } from '../local/admission';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime';
import { LIMITS } from '../shared/limits';
import { ChatClient } from '../test/e2e/chat-client';
import { createConversation, letAnyoneAdd } from '../test/e2e/helpers';
import { runBill } from './bill';
import { reportBundles } from './bundles';
import { heldSeqs, runBurst, runSequential } from './burst';
import { instrument } from './instrument';
import { LIVE_PARTS, liveOptions, measureLive } from './live';
import { BillMeter } from './meter';
import { SCENARIOS, type Scenario } from './scenarios';
import { measureSubscribe, percentile, subscribeOptions } from './subscribe';

const ms = (value: number) => `${value.toFixed(1)} ms`;

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('Timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const MEASUREMENTS = ['latency', 'hot', 'subscribe', ...LIVE_PARTS, 'bundles'] as const;

/** The parts named on the command line; none names every part. */
function selectParts(args: string[]): { measurements: Set<string>; scenarios: Scenario[] } {
  const known = [...MEASUREMENTS, 'bill', ...SCENARIOS.map((scenario) => scenario.id)];
  const unknown = args.filter((arg) => !known.includes(arg));
  if (unknown.length > 0) {
    throw new Error(`Unknown bench part: ${unknown.join(', ')}. Parts: ${known.join(', ')}`);
  }
  const all = args.length === 0;
  return {
    measurements: new Set(MEASUREMENTS.filter((part) => all || args.includes(part))),
    scenarios: SCENARIOS.filter((scenario) => all || args.includes('bill') || args.includes(scenario.id)),
  };
}

/**
 * `--concurrency N` (or `off`): the local runtime's invocations of each function at once
 * (LocalRuntimeOptions.functionConcurrency), taken out of `args`.
 */
function concurrencyFlag(args: string[]): { value: number | undefined; rest: string[] } {
  const at = args.indexOf('--concurrency');
  if (at === -1) return { value: undefined, rest: args };
  return {
    value: parseConcurrency(args[at + 1]),
    rest: args.filter((_, i) => i !== at && i !== at + 1),
  };
}

async function main(): Promise<void> {
  const live = liveOptions(process.argv.slice(2));
  const subscribe = subscribeOptions(live.rest);
  const concurrency = concurrencyFlag(subscribe.rest);
  const parts = selectParts(concurrency.rest);
  const started = performance.now();
  const timeouts: string[] = [];
  // Functions log at INFO and publish EMF metrics, as deployed: the bill counts their log bytes, and
  // the meter keeps their lines off the terminal.
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  const meter = new BillMeter();
  const instrumentation = instrument(meter);
  const runtime = await startLocalRuntime({
    ...(concurrency.value === undefined ? {} : { functionConcurrency: concurrency.value }),
    logLevel: 'INFO',
    onLog: (line) => {
      if (line.includes('timed out')) timeouts.push(line);
    },
  });
  const rows: [string, string][] = [['local runtime ready (npm start)', ms(performance.now() - started)]];
  try {
    // The bill first, on a fresh runtime: the hot conversation leaves work behind that no count may take in.
    if (parts.scenarios.length > 0) {
      console.log('\nThe counted bill (us-east-1 list prices, bench/prices.ts):\n');
      await runBill(runtime, parts.scenarios, meter, instrumentation);
    }
    if (parts.measurements.has('latency')) await measureLatency(runtime, rows);
    if (parts.measurements.has('hot')) await measureHotConversation(runtime, rows, timeouts);
    if (parts.measurements.has('subscribe')) await measureSubscribe(runtime, rows, subscribe.options);
    await measureLive(runtime, parts.measurements, live.options, rows);
    const width = Math.max(...rows.map(([name]) => name.length));
    console.log('\nMeasured on this machine (local runtime, real handlers):\n');
    for (const [name, value] of rows) console.log(`  ${name.padEnd(width)}  ${value}`);
  } finally {
    await runtime.stop();
  }
  if (parts.measurements.has('bundles'))
    console.log(`\nLambda bundles (bench/bundles.ts):\n\n${reportBundles()}`);
}

/**
 * Ack and delivery latency of sequential sends, and one message's fan-out to 100 connections (as many
 * per listener as the per-user connection cap allows).
 */
async function measureLatency(runtime: LocalRuntime, rows: [string, string][]): Promise<void> {
  const connect = async (user: string) => ChatClient.connect(await runtime.connectUrl(user));
  const clients: ChatClient[] = [];
  try {
    // 1. Ack and delivery latency, one subscriber, sequential sends. They rotate over as many senders as
    // keep each within its send bucket, so the per-user rate limit never answers instead.
    const sends = 200;
    const senderIds = Array.from({ length: Math.ceil(sends / LIMITS.sendBurst) }, (_, i) => `sender${i}`);
    const senders = await Promise.all(senderIds.map(connect));
    const [alice] = senders;
    if (alice === undefined) throw new Error('No sender');
    const bob = await connect('bob');
    clients.push(...senders, bob);
    // Strangers to alice: they let anyone add them, so her group makes them members, not invitees.
    await letAnyoneAdd(runtime, [...senderIds.slice(1), 'bob']);
    const conversationId = await createConversation(alice, [...senderIds.slice(1), 'bob']);
    await bob.request({ action: 'subscribe', conversationId });
    const acks: number[] = [];
    const deliveries: number[] = [];
    for (let n = 1; n <= sends; n++) {
      const t0 = performance.now();
      await (senders[n % senders.length] ?? alice).request({
        action: 'send',
        conversationId,
        clientMessageId: `lat-${n}`,
        body: `message ${n}`,
      });
      acks.push(performance.now() - t0);
      await waitFor(() => heldSeqs(bob, conversationId).size >= n, 10_000);
      deliveries.push(performance.now() - t0);
    }
    rows.push([
      `send → ack, p50 / p95 (${sends} sequential)`,
      `${ms(percentile(acks, 50))} / ${ms(percentile(acks, 95))}`,
    ]);
    rows.push([
      'send → pushed to subscriber, p50 / p95',
      `${ms(percentile(deliveries, 50))} / ${ms(percentile(deliveries, 95))}`,
    ]);

    // 2. Fan-out width: one message to 100 subscribed connections, as many per listener as the per-user
    // connection cap allows.
    const listenerIds = Array.from(
      { length: Math.ceil(100 / LIMITS.maxConnectionsPerUser) },
      (_, i) => `listener${i}`,
    );
    await letAnyoneAdd(runtime, listenerIds);
    const added = await alice.request({ action: 'addMembers', conversationId, members: listenerIds });
    if (added.type !== 'ack') throw new Error(`addMembers failed: ${JSON.stringify(added)}`);
    const listeners = await Promise.all(
      listenerIds.flatMap((id) => Array.from({ length: LIMITS.maxConnectionsPerUser }, () => connect(id))),
    );
    clients.push(...listeners);
    await Promise.all(listeners.map((client) => client.request({ action: 'subscribe', conversationId })));
    const t2 = performance.now();
    const wide = await alice.request({
      action: 'send',
      conversationId,
      clientMessageId: 'wide',
      body: 'to everyone',
    });
    // The listeners' addMembers took a seq of its own, so the message's seq comes from its ack.
    const wideSeq = wide.type === 'ack' ? Number(wide.seq) : Number.NaN;
    await waitFor(() => listeners.every((client) => heldSeqs(client, conversationId).has(wideSeq)), 30_000);
    rows.push(['one message to 100 connections: send → last push', ms(performance.now() - t2)]);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
}

/**
 * A hot conversation (G9): 1,000 sends one after another, then 100 users × 10 at once with resends of
 * unanswered sends after 5 s, on the same runtime.
 */
async function measureHotConversation(
  runtime: LocalRuntime,
  rows: [string, string][],
  timeouts: string[],
): Promise<void> {
  const solo = await runSequential(runtime, { messages: 1_000, tag: 'bench-solo' });
  const soloRate = solo.messages / (solo.elapsedMs / 1000);
  rows.push([
    `1,000 sends one after another (${Math.ceil(1_000 / LIMITS.sendBurst)} senders in turn)`,
    `${(solo.elapsedMs / 1000).toFixed(1)} s (${soloRate.toFixed(0)} msg/s), ${solo.sendCallsPerMessage.toFixed(2)} AWS calls per message`,
  ]);
  const timeoutsBefore = timeouts.length;
  const burst = await runBurst(runtime, {
    users: 100,
    messagesPerUser: 10,
    resendAfterMs: 5_000,
    tag: 'bench-burst',
  });
  const burstRate = burst.messages / (burst.ackedInMs / 1000);
  const exact =
    burst.storedSeqs.length === burst.messages && burst.storedSeqs.every((seq, i) => seq === i + 1);
  rows.push([
    '100 users × 10 sends at once into one conversation',
    `all acked in ${(burst.ackedInMs / 1000).toFixed(1)} s (${burstRate.toFixed(0)} msg/s = ${(burstRate / soloRate).toFixed(1)}× sequential)`,
  ]);
  rows.push([
    '… stored seqs',
    `${exact ? `exactly 1..${burst.messages}` : `NOT 1..${burst.messages} (${burst.storedSeqs.length} items)`}, ${burst.tombstones} tombstones`,
  ]);
  rows.push([
    '… AWS calls of the send function per stored message',
    `${burst.sendCallsPerMessage.toFixed(2)} (${(burst.sendCallsPerMessage / solo.sendCallsPerMessage).toFixed(2)}× sequential) ${JSON.stringify(burst.sendCallsByCommand)}`,
  ]);
  rows.push([
    '… subscribers holding all messages',
    `${burst.completeSubscribers} of 100, after ${(burst.deliveredInMs / 1000).toFixed(1)} s (${(burst.messages * 100).toLocaleString('en-US')} pushes)`,
  ]);
  rows.push([
    '… function timeouts / replies without requestId',
    `${timeouts.length - timeoutsBefore} / ${burst.repliesWithoutRequestId}`,
  ]);
  rows.push([
    '… sends resent (no answer in 5 s) / `busy` answers',
    `${burst.resentUnanswered} / ${burst.busyAnswers}`,
  ]);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
