/**
 * The scenarios of the counted bill. Each sets up its conversation uncounted, then counts exactly the
 * messages it sends and their delivery to every connection. To add one, append it to SCENARIOS: it
 * is selectable by its id at once (`npm run bench -- <id>`), and the table and chart list it.
 */
import { LIMITS } from '../shared/limits';
import type { ChatClient, Frame } from '../test/e2e/chat-client';
import { type Audience, type AudienceContext, closeAll, openAudience } from './audience';
import { heldSeqs, type SendStats, sendUntilAcked } from './burst';
import type { MeterCounts } from './meter';

/** The audience's `connect` is through a client whose frames the meter counts. */
export interface BillContext extends AudienceContext {
  /** Counts what `work` makes AWS do, from its start until the runtime has been quiet a while. */
  measure(work: () => Promise<void>): Promise<MeterCounts>;
}

export interface ScenarioResult {
  counts: MeterCounts;
  /** Messages stored by the counted work. */
  messages: number;
  /** Connections that must hear of each message, the sender's own included (it hears through its ack). */
  recipientConnections: number;
  /** Sends answered `busy` and sent again, or resent after silence: each one more billed frame. */
  retries: number;
}

export interface Scenario {
  id: string;
  title: string;
  run(context: BillContext): Promise<ScenarioResult>;
}

const holds = (client: ChatClient, conversationId: string, seq: number): boolean =>
  heldSeqs(client, conversationId).has(seq);

async function until(check: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Sends `count` messages one after another from `senders` in turn, each delivered to every other socket
 * before the next: steady traffic, where no two messages of the conversation meet in the fan-out.
 */
async function steadyTraffic(
  audience: Audience,
  senders: ChatClient[],
  count: number,
  tag: string,
  stats: SendStats,
): Promise<void> {
  for (let m = 0; m < count; m++) {
    const sender = senders[m % senders.length];
    if (sender === undefined) throw new Error('No sender');
    const ack = await sendUntilAcked(
      sender,
      { conversationId: audience.conversationId, clientMessageId: `${tag}-${m}`, body: `message ${m}` },
      30_000,
      stats,
    );
    const seq = Number(ack.seq);
    const listeners = audience.sockets.filter((socket) => socket !== sender);
    await until(
      () => listeners.every((socket) => holds(socket, audience.conversationId, seq)),
      120_000,
      () =>
        `message ${seq} on every socket (${listeners.filter((socket) => holds(socket, audience.conversationId, seq)).length} of ${listeners.length} hold it)`,
    );
  }
}

/**
 * Two messages before the count, so that it starts with every function's SDK connections open and its
 * code compiled, as in any busy conversation, and the first message does not carry a cold start.
 */
export async function warmUp(audience: Audience, senders: ChatClient[]): Promise<void> {
  await steadyTraffic(audience, senders, 2, 'warm-up', { resentUnanswered: 0, busyAnswers: 0 });
}

/**
 * Opens an audience, warms it up, and counts `traffic` from its first `senders` members' first sockets:
 * the one shape of every scenario. `traffic` returns the number of messages it stored.
 */
async function countTraffic(
  context: BillContext,
  options: Parameters<typeof openAudience>[1] & { senders: number },
  traffic: (audience: Audience, senders: ChatClient[], stats: SendStats) => Promise<number>,
): Promise<ScenarioResult> {
  const audience = await openAudience(context, options);
  try {
    const senders = audience.members.slice(0, options.senders).map((sockets) => sockets[0] as ChatClient);
    await warmUp(audience, senders);
    const stats: SendStats = { resentUnanswered: 0, busyAnswers: 0 };
    let messages = 0;
    const counts = await context.measure(async () => {
      messages = await traffic(audience, senders, stats);
    });
    return {
      counts,
      messages,
      recipientConnections: audience.sockets.length,
      retries: stats.busyAnswers + stats.resentUnanswered,
    };
  } finally {
    await closeAll(audience.sockets);
  }
}

/** `steadyTraffic` over an audience, counted. */
function steadyScenario(
  context: BillContext,
  options: Parameters<typeof openAudience>[1] & { senders: number; messages: number },
): Promise<ScenarioResult> {
  return countTraffic(context, options, async (audience, senders, stats) => {
    await steadyTraffic(audience, senders, options.messages, 'steady', stats);
    return options.messages;
  });
}

/** A 100-member group where 20 members send 10 messages each at once, resending on `busy` like the SDK. */
function burstScenario(context: BillContext): Promise<ScenarioResult> {
  const options = { tag: 'bill-burst', kind: 'group', members: 100, senders: 20 } as const;
  return countTraffic(context, options, async (audience, senders, stats) => {
    const own = new Map<ChatClient, Set<number>>(senders.map((sender) => [sender, new Set()]));
    const seqs = new Set<number>();
    await Promise.all(
      senders.flatMap((sender, s) =>
        Array.from({ length: 10 }, async (_, m) => {
          const ack: Frame = await sendUntilAcked(
            sender,
            { conversationId: audience.conversationId, clientMessageId: `burst-${s}-${m}`, body: `m${m}` },
            5_000,
            stats,
          );
          seqs.add(Number(ack.seq));
          own.get(sender)?.add(Number(ack.seq));
        }),
      ),
    );
    await until(
      () =>
        audience.sockets.every((socket) => {
          const held = heldSeqs(socket, audience.conversationId, own.get(socket));
          return [...seqs].every((seq) => held.has(seq));
        }),
      180_000,
      'every burst message on every socket',
    );
    return seqs.size;
  });
}

/** The room scenario's sockets, and each member's: half the per-user cap leaves slots for retried handshakes. */
export const ROOM_SOCKETS = 2_000;
export const ROOM_SOCKETS_PER_MEMBER = LIMITS.maxConnectionsPerUser / 2;

export const SCENARIOS: Scenario[] = [
  {
    id: 'one-to-one',
    title: '1:1 chat',
    run: (context) =>
      steadyScenario(context, { tag: 'bill-1to1', kind: 'group', members: 2, senders: 2, messages: 20 }),
  },
  {
    id: 'group',
    title: '100-member group',
    run: (context) =>
      steadyScenario(context, { tag: 'bill-group', kind: 'group', members: 100, senders: 10, messages: 10 }),
  },
  { id: 'group-burst', title: '100-member burst (20 senders × 10)', run: burstScenario },
  {
    id: 'room',
    title: `room of ${ROOM_SOCKETS.toLocaleString('en-US')} sockets`,
    run: (context) =>
      steadyScenario(context, {
        tag: 'bill-room',
        kind: 'room',
        members: ROOM_SOCKETS / ROOM_SOCKETS_PER_MEMBER,
        socketsPerMember: ROOM_SOCKETS_PER_MEMBER,
        senders: 10,
        messages: 5,
      }),
  },
];
