/**
 * One chaos run: the local runtime in this process (its own DynamoDB Local, free ports), a seeded workload
 * of 12 users sending into two conversations while raw subscribers and an SDK client listen, the planned
 * faults over it, then a bounded wait for quiet, a redrive, a probe, and the invariants.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { ROUTES, type RouteKey, routeTarget } from '../lib/wiring';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../local/services';
import { LIMITS } from '../shared/limits';
import type { ChaosArgs } from './args';
import { deadLetterCount, readHistory, redrive, storedItems, waitFor } from './collect';
import { type Freezer, startFreezer } from './guardian';
import { type InjectedFault, runFault } from './injector';
import { type ChaosObservation, checkChaos, type ObservedConversation } from './invariants';
import { FRAME_BUDGET_MS, Ledger } from './ledger';
import { createRandom, type Random } from './prng';
import { formatReport } from './report';
import { planFaults } from './schedule';
import { SdkWatcher } from './sdk-watcher';
import { Sender, type SentMessage } from './sender';
import { RawSocket } from './socket';
import { RawSubscriber } from './subscriber';

/** Users who send, as the issue's soak had them. */
const SENDERS = 12;
/** Listeners on raw sockets. */
const RAW_SUBSCRIBERS = 3;
/**
 * The fan-out queue's visibility timeout in the run: a crashed fan-out batch comes back after it (180 s as
 * deployed), so a short run shortens it to see the batch redelivered.
 */
export const CHAOS_VISIBILITY_TIMEOUT_SECONDS = 8;
/** Receives before a record is a dead letter (5 as deployed): fewer, so a short failing spell reaches the DLQ. */
export const CHAOS_MAX_RECEIVE_COUNT = 3;
/** How long the end waits for every listener to hold every acked message, before and after the redrive. */
const QUIET_WAIT_MS = 20_000;

export interface ChaosOutcome {
  passed: boolean;
  lines: string[];
}

/** The function a frame's action runs in, for the budget and for matching a crash to its gateway error. */
const functionOf = (action: string): string =>
  action in ROUTES ? routeTarget(ROUTES[action as RouteKey]).function : routeTarget(ROUTES.$default).function;

/** A socket that answers one frame at a time for setup steps; throws on a refusal. */
async function ask(
  socket: RawSocket,
  ledger: Ledger,
  frame: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  for (;;) {
    const answer = await socket.request(frame, ledger).reply;
    if (answer === undefined) throw new Error(`The setup socket closed during ${String(frame.action)}`);
    if (answer.type === 'ack') return answer;
    if (answer.retryable !== true)
      throw new Error(`${String(frame.action)} was refused: ${JSON.stringify(answer)}`);
    await sleep(500);
  }
}

/** Users, and two conversations every one of them is a member of. */
async function setUp(runtime: LocalRuntime, ledger: Ledger, users: string[]): Promise<string[]> {
  const [creator, ...others] = users;
  if (creator === undefined) throw new Error('No users');
  await Promise.all(
    others.map(async (userId) => {
      const socket = await RawSocket.open(await runtime.connectUrl(userId), userId, ledger, () => undefined);
      await ask(socket, ledger, { action: 'setWhoCanAdd', whoCanAdd: 'anyone' });
      await socket.close();
    }),
  );
  const socket = await RawSocket.open(await runtime.connectUrl(creator), creator, ledger, () => undefined);
  const ids: string[] = [];
  for (const title of ['chaos A', 'chaos B']) {
    const ack = await ask(socket, ledger, { action: 'createConversation', members: others, title });
    ids.push(String((ack.conversation as Record<string, unknown>).conversationId));
  }
  await socket.close();
  return ids;
}

/** Kills the SDK client's socket and closes and replaces the client, in turns, until `until`. */
async function churnSdk(watcher: SdkWatcher, random: Random, until: number): Promise<void> {
  for (let turn = 0; ; turn++) {
    await sleep(random.int(3_000, 7_000));
    if (Date.now() >= until) return;
    if (turn % 2 === 0) watcher.kill();
    else watcher.reopen();
  }
}

interface Cast {
  senders: Sender[];
  subscribers: RawSubscriber[];
  watcher: SdkWatcher;
}

/** Whether every listener holds every acked message. */
function quiet({ senders, subscribers, watcher }: Cast, more: readonly SentMessage[] = []): boolean {
  const acked = [...senders.flatMap((s) => s.messages), ...more].filter((m) => m.ackSeqs.size > 0);
  return acked.every((m) => {
    const seq = [...m.ackSeqs][0] ?? 0;
    return (
      subscribers.every((s) => s.held.get(m.conversationId)?.has(seq) === true) &&
      (watcher.shown.get(m.conversationId) ?? []).some((shown) => shown.seq === seq)
    );
  });
}

/**
 * The end's probe: a healthy runtime takes one more message into each conversation and delivers it to
 * every raw subscriber and the SDK. Answers the probe's messages, and what failed if anything did.
 */
async function probe(
  runtime: LocalRuntime,
  ledger: Ledger,
  cast: Cast,
  ids: readonly string[],
): Promise<{ messages: SentMessage[]; failure?: string }> {
  const messages: SentMessage[] = [];
  const socket = await RawSocket.open(await runtime.connectUrl('probe'), 'probe', ledger, () => undefined);
  try {
    for (const [i, conversationId] of ids.entries()) {
      const message = { conversationId, clientMessageId: `probe.${i}`, body: 'probe ✓' };
      const ack = await ask(socket, ledger, { action: 'send', ...message });
      messages.push({
        ...message,
        senderId: 'probe',
        firstSentAt: Date.now(),
        ackSeqs: new Set([Number(ack.seq)]),
        resends: 0,
      });
    }
  } catch (err: unknown) {
    return {
      messages,
      failure: `the probe's send failed: ${err instanceof Error ? err.message : String(err)}`,
    };
  } finally {
    await socket.close();
  }
  const delivered = await waitFor(() => quiet(cast, messages), 15_000);
  return delivered
    ? { messages }
    : { messages, failure: 'the probe did not reach every listener within 15 s' };
}

/** Reads each conversation's history until its seqs are dense (a dead writer's seq is filled once its lease passed). */
async function observeConversations(
  runtime: LocalRuntime,
  ledger: Ledger,
  ids: readonly string[],
  fillUntil: number,
) {
  const socket = await RawSocket.open(await runtime.connectUrl('probe'), 'probe', ledger, () => undefined);
  const conversations: ObservedConversation[] = [];
  try {
    for (const conversationId of ids) {
      let observed: ObservedConversation;
      for (;;) {
        const history = await readHistory(socket, ledger, conversationId);
        const items = await storedItems(runtime, conversationId);
        observed = { conversationId, lastSeq: history.lastSeq, items, history: history.messages };
        if (items.filter((item) => item.seq >= 1).length >= history.lastSeq || Date.now() >= fillUntil) break;
        await sleep(1_000);
      }
      conversations.push(observed);
    }
  } finally {
    await socket.close();
  }
  return conversations;
}

/** Runs the workload, the faults and the checks on a runtime that is already started. */
async function soak(
  runtime: LocalRuntime,
  freezer: Freezer,
  args: ChaosArgs,
  log: (line: string) => void,
): Promise<ChaosOutcome> {
  const random = createRandom(args.seed);
  const ledger = new Ledger();
  const senderIds = Array.from({ length: SENDERS }, (_, i) => `user${String(i + 1).padStart(2, '0')}`);
  const rawIds = Array.from({ length: RAW_SUBSCRIBERS }, (_, i) => `listener${i + 1}`);
  const ids = await setUp(runtime, ledger, [...senderIds, ...rawIds, 'sdk-listener', 'probe']);
  const connectUrl = (userId: string) => runtime.connectUrl(userId);
  const senders = senderIds.map(
    (userId) => new Sender({ userId, conversationIds: ids, connectUrl, ledger, random: random.fork(userId) }),
  );
  const subscribers = rawIds.map(
    (userId) => new RawSubscriber({ userId, conversationIds: ids, connectUrl, ledger }),
  );
  const watcher = new SdkWatcher({
    userId: 'sdk-listener',
    conversationIds: ids,
    url: runtime.webSocketUrl,
    issueToken: (u) => runtime.issueToken(u),
  });
  const cast: Cast = { senders, subscribers, watcher };
  for (const subscriber of subscribers) subscriber.start();
  watcher.open();
  if (!(await waitFor(() => subscribers.every((s) => s.ready), 30_000)))
    throw new Error('The listeners did not subscribe within 30 s');

  const management = new ApiGatewayManagementApiClient({
    endpoint: runtime.managementEndpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  const plan = planFaults(random.fork('faults'), {
    seconds: args.seconds,
    queueFreezable: runtime.processes.queueEmulator !== undefined,
  });
  const t0 = Date.now();
  const end = t0 + args.seconds * 1000;
  const targets = {
    runtime,
    freezer,
    senders,
    subscribers,
    management,
    random: random.fork('targets'),
    deadLetters: () => deadLetterCount(runtime),
    redrive: () => redrive(runtime),
  };
  const [faults] = await Promise.all([
    Promise.all(plan.map((fault) => runFault(fault, targets, t0))),
    ...senders.map((sender) => sender.run(() => Date.now() < end, end + 30_000)),
    churnSdk(watcher, random.fork('sdk'), end),
  ]);
  freezer.resumeAll();
  // Each fault removed its rule at its end; none may outlive the faults' time into the checks.
  runtime.faults.clear();
  const phase = (what: string): void => log(`chaos: ${what} at +${((Date.now() - t0) / 1000).toFixed(1)} s`);
  phase('workload and faults over');

  // The end: a bounded wait for quiet, a redrive, the probe, then history read until its seqs are dense.
  phase(`quiet: ${await waitFor(() => quiet(cast), QUIET_WAIT_MS)}`);
  const redriven = await redrive(runtime);
  phase(`redrive moved ${redriven}; quiet: ${await waitFor(() => quiet(cast), QUIET_WAIT_MS)}`);
  const probed = await probe(runtime, ledger, cast, ids);
  phase(`probe ${probed.failure ?? 'delivered'}`);
  // A writer that died after reserving its seq leaves a hole that a reader may fill only after its lease.
  const lastFired = Math.max(
    0,
    ...runtime.faults.fired.filter((f) => f.functionName === 'send').map((f) => f.at),
  );
  const conversations = await observeConversations(
    runtime,
    ledger,
    ids,
    Math.max(Date.now(), lastFired + LIMITS.writerLeaseMs + 5_000),
  );
  const deadLetters = await deadLetterCount(runtime);
  phase('history read');
  const observation: ChaosObservation = {
    conversations,
    sends: [...senders.flatMap((s) => s.messages), ...probed.messages].map((m) => ({
      ...m,
      ackSeqs: [...m.ackSeqs],
    })),
    raw: subscribers.flatMap((s) =>
      ids.map((conversationId) => ({
        userId: s.userId,
        conversationId,
        held: [...(s.held.get(conversationId)?.values() ?? [])],
      })),
    ),
    sdk: ids.map((conversationId) => ({
      userId: 'sdk-listener',
      conversationId,
      shown: watcher.shown.get(conversationId) ?? [],
    })),
    frames: ledger.frames,
    sockets: ledger.sockets,
    fired: runtime.faults.fired,
    functionOf,
    budgetMs: FRAME_BUDGET_MS,
    checkedAt: Date.now(),
    deadLetters,
    ...(probed.failure !== undefined && { probeFailure: probed.failure }),
  };
  const violations = checkChaos(observation);
  watcher.close();
  await Promise.all([...subscribers.map((s) => s.stop()), ...senders.map((s) => s.close())]);
  management.destroy();
  return report(args, t0, faults, cast, ids, observation, violations, redriven);
}

function report(
  args: ChaosArgs,
  t0: number,
  faults: InjectedFault[],
  { senders, subscribers, watcher }: Cast,
  ids: readonly string[],
  o: ChaosObservation,
  violations: ReturnType<typeof checkChaos>,
  redriven: number,
): ChaosOutcome {
  const messages = senders.flatMap((s) => s.messages);
  const items = o.conversations.flatMap((c) => c.items);
  const answers = (answer: string) => o.frames.filter((f) => f.answer === answer).length;
  const counts = {
    acked: messages.filter((m) => m.ackSeqs.size > 0).length,
    sent: messages.length,
    stored: items.filter((i) => i.seq >= 1 && i.tombstone !== true).length,
    tombstones: items.filter((i) => i.tombstone === true).length,
    resends: messages.reduce((sum, m) => sum + m.resends, 0),
    frames: o.frames.length,
    busy: answers('error:busy'),
    'gateway errors': answers('gateway-error'),
    'slowest answer': `${(Math.max(0, ...o.frames.map((f) => (f.answeredAt ?? f.sentAt) - f.sentAt)) / 1000).toFixed(1)} s`,
    'runtime faults fired': o.fired.length,
    sockets: o.sockets.length,
    'raw duplicates': subscribers.reduce((sum, s) => sum + s.duplicates, 0),
    'SDK kills': watcher.kills,
    'SDK closes': watcher.closes,
    'redriven at the end': redriven,
  };
  const lines = formatReport({
    args,
    t0,
    faults,
    conversationIds: ids,
    arrivals: subscribers.flatMap((s) => s.arrivals),
    counts,
    violations,
  });
  return { passed: violations.length === 0, lines };
}

/**
 * Starts the runtime, runs the soak, and always resumes what it froze and stops the runtime, also on
 * Ctrl-C or SIGTERM (the guardian covers what no handler can: a SIGKILL).
 */
export async function runChaos(args: ChaosArgs, log: (line: string) => void): Promise<ChaosOutcome> {
  const runtime = await startLocalRuntime({
    logLevel: 'SILENT',
    visibilityTimeoutSeconds: CHAOS_VISIBILITY_TIMEOUT_SECONDS,
    maxReceiveCount: CHAOS_MAX_RECEIVE_COUNT,
    // Its own process, so a fault can freeze the queues alone.
    queueEmulatorProcess: true,
  });
  const freezer = startFreezer(
    Object.values(runtime.processes).filter((pid): pid is number => pid !== undefined),
  );
  const interrupted = (signal: NodeJS.Signals): void => {
    freezer.release();
    log(`chaos FAIL seed=${args.seed} seconds=${args.seconds}: interrupted by ${signal}`);
    runtime.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    log(
      `chaos: seed ${args.seed}, runtime up at ${runtime.webSocketUrl}, processes ${JSON.stringify(runtime.processes)}`,
    );
    return await soak(runtime, freezer, args, log);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    freezer.release();
    await runtime.stop();
  }
}
