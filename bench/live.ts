/**
 * Issue 17's live targets, as parts of `npm run bench`:
 * - `sustained-group`: a 100-member group (one socket each) hears 30 messages/s from 10 paced senders.
 * - `live-room`: a room of 2,000 sockets hears 10 messages/s from 20 senders, every socket through the
 *   client SDK (bench/live-room.ts).
 * Both run for `--seconds` (default 30). Send-to-screen is the sender's first attempt to the moment a
 * receiver holds the message (a raw socket: the frame, batches unpacked; an SDK client: its stream's
 * `message` event), on the one clock of this process. Each part reports what was lost, the transcripts,
 * the frames each socket received per second, and the load average next to the numbers.
 */
import type { LocalRuntime } from '../local/runtime';
import { ChatClient } from '../test/e2e/chat-client';
import { closeAll, openAudience } from './audience';
import { messageSeqs, type SendStats, sendUntilAcked, storedEntries } from './burst';
import { meterClient } from './instrument';
import {
  frameRates,
  type LiveOptions,
  runTraffic,
  sendToScreen,
  spread,
  watchPipeline,
} from './live-measure';
import { measureLiveRoom } from './live-room';
import { BillMeter } from './meter';
import { warmUp } from './scenarios';

/** The live parts, by name on the bench's command line. */
export const LIVE_PARTS = ['sustained-group', 'live-room'] as const;

/** The value of `flag` in `args` (a whole number ≥ `min`), or `fallback` when it is absent. */
function wholeFlag(args: string[], flag: string, min: number, fallback: number): number {
  const at = args.indexOf(flag);
  if (at === -1) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < min) throw new Error(`${flag} takes a whole number from ${min}`);
  return value;
}

/**
 * Takes the live parts' flags out of the bench's arguments: `--seconds N` (how long they send, default 30)
 * and `--tick MS` (the room's tick, default 250; 0 turns it off). A bad value throws before anything starts.
 */
export function liveOptions(args: string[]): { options: LiveOptions; rest: string[] } {
  const options = {
    seconds: wholeFlag(args, '--seconds', 1, 30),
    tickMs: wholeFlag(args, '--tick', 0, 250),
  };
  const flags = new Set(['--seconds', '--tick'].map((flag) => args.indexOf(flag)).filter((at) => at !== -1));
  return { options, rest: args.filter((_, i) => !flags.has(i) && !flags.has(i - 1)) };
}

/** Runs the live parts named in `parts` and adds their rows to `rows`. */
export async function measureLive(
  runtime: LocalRuntime,
  parts: ReadonlySet<string>,
  options: LiveOptions,
  rows: [string, string][],
): Promise<void> {
  for (const [part, measure] of [
    ['sustained-group', measureSustainedGroup],
    ['live-room', measureLiveRoom],
  ] as const) {
    if (!parts.has(part)) continue;
    const own: [string, string][] = [];
    await measure(runtime, options, own);
    // Each part takes minutes: its rows are on the terminal as soon as it ends, and again with the others.
    for (const [name, value] of own) console.log(`  ${name}: ${value}`);
    rows.push(...own);
  }
}

const GROUP_MEMBERS = 100;
const GROUP_SENDERS = 10;
const GROUP_RATE = 30;

/** What one raw socket held and when: each seq's first arrival, arrivals in order, each push's time. */
interface Receiver {
  socket: ChatClient;
  arrivedAt: Map<number, number>;
  order: number[];
  pushTimes: number[];
}

/** Starts recording what `socket` receives from now on. */
function receive(socket: ChatClient, conversationId: string): Receiver {
  const receiver: Receiver = { socket, arrivedAt: new Map(), order: [], pushTimes: [] };
  // Registered after the client's own listener, so the frame it just parsed is its last.
  socket.socket.on('message', () => {
    const now = performance.now();
    const frame = socket.frames.at(-1);
    if (frame === undefined || frame.requestId !== undefined) return;
    receiver.pushTimes.push(now);
    for (const seq of messageSeqs(frame, conversationId)) {
      if (receiver.arrivedAt.has(seq)) continue;
      receiver.arrivedAt.set(seq, now);
      receiver.order.push(seq);
    }
  });
  return receiver;
}

/** Arrivals of a seq after a higher one: what a client must reorder (the SDK does). */
function outOfOrder(order: readonly number[]): number {
  let highest = 0;
  let late = 0;
  for (const seq of order) {
    if (seq < highest) late++;
    else highest = seq;
  }
  return late;
}

/**
 * `sustained-group`: 100 members on one socket each, 10 of them sending 30 messages/s between them,
 * paced, for `seconds`. Issue 17's target: p95 send-to-screen ≤ 2 s, nothing lost, and at most 2
 * inbound frames (attempts, `busy` answers resent included) per stored message.
 */
async function measureSustainedGroup(
  runtime: LocalRuntime,
  { seconds }: LiveOptions,
  rows: [string, string][],
): Promise<void> {
  const meter = new BillMeter();
  const connect = async (userId: string) =>
    meterClient(await ChatClient.connect(await runtime.connectUrl(userId)), meter);
  const audience = await openAudience(
    { runtime, connect },
    { tag: 'live-group', kind: 'group', members: GROUP_MEMBERS },
  );
  try {
    const { conversationId, sockets } = audience;
    const count = GROUP_RATE * seconds;
    const sending = audience.members.slice(0, GROUP_SENDERS).map((own) => own[0] as ChatClient);
    await warmUp(audience, sending);
    const before = new Set((await storedEntries(runtime, conversationId)).seqs);
    const receivers = sockets.map((socket) => receive(socket, conversationId));
    const senders = receivers.filter((receiver) => sending.includes(receiver.socket));
    const ownSends = (receiver: Receiver) => {
      const at = senders.indexOf(receiver);
      return at === -1 ? 0 : Math.ceil((count - at) / senders.length);
    };
    const stats: SendStats = { resentUnanswered: 0, busyAnswers: 0 };
    const pipeline = watchPipeline(runtime);
    meter.start();
    const traffic = await runTraffic({
      count,
      perSecond: GROUP_RATE,
      send: async (i) => {
        const sender = senders[i % senders.length] as Receiver;
        const at = performance.now();
        const ack = await sendUntilAcked(
          sender.socket,
          { conversationId, clientMessageId: `live-${i}`, body: `live ${i}` },
          5_000,
          stats,
        );
        return { seq: Number(ack.seq), sender, at };
      },
      // Each receiver holds every message but its own sends' (their acks count).
      delivered: () => receivers.every((receiver) => receiver.arrivedAt.size >= count - ownSends(receiver)),
      drainMs: 120_000,
    });
    const inbound = meter.stop().frames.in;
    const { sent, started, drainedInMs } = traffic;

    const { latencies, missing } = sendToScreen(receivers, sent, (receiver, i) =>
      receiver.arrivedAt.get((sent[i] as (typeof sent)[number]).seq),
    );
    const expected = sent.map(({ seq }) => seq).sort((a, b) => a - b);
    const transcriptsInOrder = receivers.filter((receiver) => {
      const own = sent.filter(({ sender }) => sender === receiver).map(({ seq }) => seq);
      const held = [...new Set([...receiver.arrivedAt.keys(), ...own])].sort((a, b) => a - b);
      return held.join() === expected.join();
    }).length;
    const stored = (await storedEntries(runtime, conversationId)).seqs.filter((seq) => !before.has(seq));
    const storedExactly = stored.join() === expected.join() && new Set(expected).size === count;
    const rates = frameRates(
      receivers.map((receiver) => receiver.pushTimes),
      started,
      started + drainedInMs,
    );

    rows.push([
      `sustained group: ${GROUP_MEMBERS} members × 1 socket, ${GROUP_SENDERS} senders, ${GROUP_RATE} msg/s for ${seconds} s`,
      traffic.summary,
    ]);
    rows.push([
      `… send → screen on the ${GROUP_MEMBERS - 1} other sockets, p50 / p95 / max`,
      spread(latencies),
    ]);
    rows.push([
      '… not on a socket when the wait ended / transcripts equal to the stored seqs, in seq order',
      `${missing} / ${transcriptsInOrder} of ${receivers.length}; stored ${storedExactly ? `exactly the ${count} acked seqs` : `NOT the acked seqs (${stored.length} stored)`}; ${receivers.reduce((sum, r) => sum + outOfOrder(r.order), 0)} arrivals after a later seq (the SDK reorders them)`,
    ]);
    rows.push([
      '… frames per receiver per second, mean from first send to last arrival / busiest second',
      `${rates.mean.toFixed(1)} / ${rates.busiestSecond} (one post per message would be ${GROUP_RATE})`,
    ]);
    rows.push([
      '… inbound frames per stored message (attempts)',
      `${(inbound / count).toFixed(2)}: ${inbound} frames, ${stats.busyAnswers} \`busy\` answers, ${stats.resentUnanswered} resent unanswered`,
    ]);
    rows.push(...(await pipeline.rows()));
  } finally {
    await closeAll(audience.sockets);
  }
}
