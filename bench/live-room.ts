/**
 * `live-room` (bench/live.ts): a room of 2,000 sockets, each a client of the real SDK (client/, as
 * test/e2e/sdk.e2e.test.ts runs it in Node), 10 messages/s from 20 of them for `seconds`. A message is on
 * a viewer's screen when its stream emits it: deduplicated, in seq order, gaps repaired, batches unpacked.
 * Each viewer's socket counts the frames it received and the `send` and `history` frames it sent.
 */
import WebSocket from 'ws';
import { type ChatClient as Chat, type ConversationStream, connect } from '../client';
import type { LocalRuntime } from '../local/runtime';
import { storedEntries } from './burst';
import {
  frameRates,
  type LiveOptions,
  runTraffic,
  sendToScreen,
  settle,
  spread,
  watchPipeline,
} from './live-measure';
import { ROOM_SOCKETS, ROOM_SOCKETS_PER_MEMBER } from './scenarios';

const ROOM_SENDERS = 20;
const ROOM_RATE = 10;
/**
 * Streams opened together, as the bill's audience subscribes: viewers of a live event arrive over minutes,
 * and all 2,000 subscribing in the same second is the `subscribe` part's measurement (bench/subscribe.ts).
 * Measured on 2026-12-07: 300 SDK streams opened at once took 74 s on this machine, their subscribes
 * running out of time inside the function, answered `busy` and resent a second later by every client.
 */
const STREAMS_AT_ONCE = 50;

/** One SDK client and what it put on screen. */
interface Viewer {
  chat: Chat;
  /** Seqs its stream emitted, in emission order. */
  shown: number[];
  /** When each body was shown (bodies are unique). */
  shownAt: Map<string, number>;
  /** Arrival time of every frame its socket received. */
  frameTimes: number[];
  sends: number;
  historyReads: number;
  /** Why its connection was replaced, each time. */
  reconnects: string[];
}

/** The `ws` WebSocket, counting what `viewer`'s socket receives and sends. */
function countingSocket(viewer: Viewer): new (url: string) => WebSocket {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
      // Posts only: a reply answers the client's own request and is no PostToConnection.
      this.on('message', (data) => {
        if (!String(data).includes('"requestId":')) viewer.frameTimes.push(performance.now());
      });
      const send = this.send.bind(this);
      this.send = ((data: string, ...rest: unknown[]) => {
        if (data.includes('"action":"send"')) viewer.sends++;
        if (data.includes('"action":"history"')) viewer.historyReads++;
        return (send as (...args: unknown[]) => void)(data, ...rest);
      }) as typeof this.send;
    }
  };
}

/** Opens an SDK client for `userId` and resolves once it is connected. */
function openViewer(runtime: LocalRuntime, userId: string): Promise<Viewer> {
  const viewer: Viewer = {
    chat: undefined as unknown as Chat,
    shown: [],
    shownAt: new Map(),
    frameTimes: [],
    sends: 0,
    historyReads: 0,
    reconnects: [],
  };
  viewer.chat = connect({
    url: runtime.webSocketUrl,
    tokenProvider: () => runtime.issueToken(userId),
    WebSocket: countingSocket(viewer) as never,
  });
  viewer.chat.on('reconnecting', ({ reason }) => viewer.reconnects.push(reason));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `${userId}'s client never opened (${viewer.chat.state}; ${viewer.reconnects.join(', ')})`,
          ),
        ),
      120_000,
    );
    viewer.chat.on('open', () => {
      clearTimeout(timer);
      resolve(viewer);
    });
  });
}

/** Connections replaced, by reason, over `viewers`. */
function reconnects(viewers: Viewer[]): string {
  const byReason = new Map<string, number>();
  for (const reason of viewers.flatMap((viewer) => viewer.reconnects))
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  return `reconnects: ${byReason.size === 0 ? 'none' : [...byReason].map(([reason, n]) => `${n} ${reason}`).join(', ')}`;
}

/** A line on the terminal while the part runs: setting up 2,000 clients takes minutes. */
const progress = (line: string) => console.log(`  live-room: ${line}`);

/** Runs `work` over `items`, `size` at a time. */
async function inChunks<T, R>(items: T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size)
    results.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return results;
}

/** Starts recording what `viewer`'s stream of the room shows. */
function watch(viewer: Viewer, stream: ConversationStream): void {
  stream.on('message', (message) => {
    viewer.shown.push(message.seq);
    viewer.shownAt.set(message.body, performance.now());
  });
}

/**
 * `live-room`: issue 17's target is every socket ending with all messages in seq order through the SDK,
 * p95 send-to-screen ≤ 2 s, frames per socket per second ≤ the room's tick rate, nothing lost and the
 * dead-letter queues empty.
 */
export async function measureLiveRoom(
  runtime: LocalRuntime,
  { seconds, tickMs }: LiveOptions,
  rows: [string, string][],
): Promise<void> {
  const members = ROOM_SOCKETS / ROOM_SOCKETS_PER_MEMBER;
  const userIds = Array.from({ length: members }, (_, i) => `live-room-u${i}`);
  const viewers: Viewer[] = [];
  try {
    const setupStarted = performance.now();
    // Twenty handshakes at a time, as the bill's audience connects: more at once time out on 2 cores.
    const byMember = await inChunks(userIds, Math.max(1, 20 / ROOM_SOCKETS_PER_MEMBER), (userId) =>
      Promise.all(Array.from({ length: ROOM_SOCKETS_PER_MEMBER }, () => openViewer(runtime, userId))),
    );
    viewers.push(...byMember.flat());
    const connectedInMs = performance.now() - setupStarted;
    progress(`${viewers.length} SDK clients connected in ${(connectedInMs / 1000).toFixed(1)} s`);
    const owner = byMember[0]?.[0];
    if (owner === undefined) throw new Error('No viewer');
    const { room } = await owner.chat.request('createRoom', { title: 'live', access: 'public', tickMs });
    const roomId = room.conversationId;
    await inChunks(byMember.slice(1), 50, (own) => (own[0] as Viewer).chat.joinRoom(roomId));
    const joinedAt = performance.now();
    progress(`${members} members joined; opening the streams, ${STREAMS_AT_ONCE} at a time`);
    let ready = 0;
    const ticker = setInterval(
      () => progress(`${ready} of ${viewers.length} streams ready; ${reconnects(viewers)}`),
      10_000,
    );
    try {
      await inChunks(viewers, STREAMS_AT_ONCE, async (viewer) => {
        const stream = viewer.chat.conversation(roomId, { afterSeq: room.lastSeq });
        watch(viewer, stream);
        await stream.ready;
        ready++;
      });
    } finally {
      clearInterval(ticker);
    }
    const subscribedInMs = performance.now() - joinedAt;
    progress(`every stream ready ${(subscribedInMs / 1000).toFixed(1)} s after the joins`);
    const senders = byMember.slice(0, ROOM_SENDERS).map((own) => own[0] as Viewer);
    // Two messages first, so the count starts with the send path warm, as in a busy room.
    const warmUp: number[] = [];
    for (const body of ['warm-up 1', 'warm-up 2'])
      warmUp.push((await (senders[0] as Viewer).chat.send(roomId, body)).seq);
    await settle(() => viewers.every((viewer) => viewer.shown.length >= 2), 120_000);

    const count = ROOM_RATE * seconds;
    const pipeline = watchPipeline(runtime);
    const sendsBefore = viewers.reduce((sum, viewer) => sum + viewer.sends, 0);
    const cpuBefore = process.cpuUsage();
    const total = count + 2;
    const drainTicker = setInterval(() => {
      const done = viewers.filter((viewer) => viewer.shown.length >= total).length;
      progress(`${done} of ${viewers.length} screens hold every message; ${reconnects(viewers)}`);
    }, 10_000);
    const traffic = await runTraffic({
      count,
      perSecond: ROOM_RATE,
      send: async (i) => {
        const sender = senders[i % senders.length] as Viewer;
        const body = `room ${i}`;
        const at = performance.now();
        const ack = await sender.chat.send(roomId, body);
        return { seq: ack.seq, sender, body, at };
      },
      delivered: () => viewers.every((viewer) => viewer.shown.length >= total),
      drainMs: 300_000,
    }).finally(() => clearInterval(drainTicker));
    const { sent, started, drainedInMs } = traffic;
    const cpu = process.cpuUsage(cpuBefore);

    const { latencies, missing } = sendToScreen(viewers, sent, (viewer, i) =>
      viewer.shownAt.get((sent[i] as (typeof sent)[number]).body),
    );
    const stored = await storedEntries(runtime, roomId);
    // What the screens must show: every acked message in seq order. A seq whose writer ran out of time is a
    // tombstone, which clients skip.
    const expected = [...warmUp, ...sent.map(({ seq }) => seq)].sort((a, b) => a - b);
    const storedExactly =
      stored.seqs.length - stored.tombstones === expected.length &&
      expected.every((seq) => stored.seqs.includes(seq));
    const inOrder = viewers.filter((viewer) => viewer.shown.join() === expected.join()).length;
    const rates = frameRates(
      viewers.map((viewer) => viewer.frameTimes),
      started,
      started + drainedInMs,
    );
    const sends = viewers.reduce((sum, viewer) => sum + viewer.sends, 0) - sendsBefore;
    const historyReads = viewers.reduce((sum, viewer) => sum + viewer.historyReads, 0);

    rows.push([
      `live room: ${viewers.length.toLocaleString('en-US')} SDK clients (${members} members × ${ROOM_SOCKETS_PER_MEMBER}), ${ROOM_SENDERS} senders, ${ROOM_RATE} msg/s for ${seconds} s`,
      traffic.summary,
    ]);
    rows.push([
      `… setup: connected / every stream ready (${STREAMS_AT_ONCE} at a time)`,
      `${(connectedInMs / 1000).toFixed(1)} s / ${(subscribedInMs / 1000).toFixed(1)} s`,
    ]);
    rows.push([
      `… send → screen on the other ${viewers.length - 1} clients, p50 / p95 / max`,
      spread(latencies),
    ]);
    rows.push([
      '… not on a screen when the wait ended / transcripts exactly the stored seqs, in seq order (SDK)',
      `${missing} / ${inOrder} of ${viewers.length}; stored ${storedExactly ? 'exactly the acked messages' : 'NOT the acked messages'} and ${stored.tombstones} tombstones; ${historyReads} gap repairs (history reads)`,
    ]);
    rows.push([
      '… posts (pushed frames) per socket per second, mean from first send to last screen / busiest second',
      `${rates.mean.toFixed(2)} / ${rates.busiestSecond} (room tick ${tickMs === 0 ? 'off' : `${tickMs} ms: at most ${(1000 / tickMs).toFixed(0)} a second`})`,
    ]);
    rows.push(['… inbound frames per stored message (SDK send attempts)', (sends / count).toFixed(2)]);
    rows.push([
      '… process CPU during traffic and drain (runtime, functions and clients share it)',
      `${((cpu.user + cpu.system) / 1000 / drainedInMs).toFixed(2)} cores; RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
    ]);
    rows.push(['… SDK connections replaced during the part', reconnects(viewers)]);
    rows.push(...(await pipeline.rows()));
  } finally {
    for (const viewer of viewers) viewer.chat.close();
  }
}
