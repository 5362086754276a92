/**
 * The invariants a chaos run must end with, checked on what it observed (no I/O here, so a unit test can
 * hand the checker a doctored observation and see it fail). Each violation names its invariant; the run
 * prints the first ones in detail.
 *
 * What a raw subscriber must hold, from the protocol: while a connection is subscribed it is pushed every
 * message at least once (G4); when its socket dies it reconnects and subscribes with `afterSeq` = the highest
 * seq below which it holds every seq, and the backlog pages give it everything after that (G5). So the
 * union of all its connections' backlog pages and pushes holds every message of history, with the stored
 * sender and body, and no other (duplicates are allowed on a raw socket; a tombstone is never pushed, so it
 * may miss tombstones, never messages). The SDK promises more: across its clients the app is shown history's
 * messages exactly, each once, in seq order.
 */
import type { FiredFault } from '../local/faults';
import type { FrameRecord, SocketRecord } from './ledger';
import type { ShownMessage } from './sdk-watcher';
import type { HeldEntry } from './subscriber';

/** An item of the messages table, as stored. */
export interface StoredItem {
  seq: number;
  senderId?: string;
  body?: string;
  clientMessageId?: string;
  /** A dead writer's tombstone (not a deleted message, not a membership change). */
  tombstone?: boolean;
}

export interface ObservedConversation {
  conversationId: string;
  /** The conversation's last seq, from its history. */
  lastSeq: number;
  /** Every item of the messages table for it, in seq order. */
  items: StoredItem[];
  /** Its history's messages (tombstones left out), in seq order. */
  history: ShownMessage[];
}

/** A message the workload sent, and every seq its acks named. */
export interface ObservedSend {
  conversationId: string;
  clientMessageId: string;
  senderId: string;
  body: string;
  ackSeqs: readonly number[];
  refused?: string;
}

export interface ChaosObservation {
  conversations: ObservedConversation[];
  sends: ObservedSend[];
  /** Each raw subscriber's holdings per conversation. */
  raw: { userId: string; conversationId: string; held: HeldEntry[] }[];
  /** What the SDK showed per conversation, across its clients. */
  sdk: { userId: string; conversationId: string; shown: ShownMessage[] }[];
  frames: FrameRecord[];
  sockets: SocketRecord[];
  /** The runtime's faults that fired (local/faults.ts). */
  fired: readonly FiredFault[];
  /** The function each action runs in (lib/wiring.ts ROUTES). */
  functionOf: (action: string) => string;
  /** How long a frame may wait for its answer. */
  budgetMs: number;
  /** When the frames were checked: a frame younger than its budget then is not due yet. */
  checkedAt: number;
  /** Letters left in the dead-letter queues after the redrive. */
  deadLetters: number;
  /** The end's probe: a message sent and seen by every listener; undefined when it passed. */
  probeFailure?: string;
}

export interface Violation {
  invariant: string;
  detail: string;
}

const key = (conversationId: string, senderId: string, clientMessageId: string): string =>
  `${conversationId} ${senderId} ${clientMessageId}`;
const sameMessage = (a: ShownMessage, b: ShownMessage): boolean =>
  a.seq === b.seq && a.senderId === b.senderId && a.body === b.body;
const show = (message: ShownMessage | undefined): string =>
  message === undefined
    ? 'nothing'
    : `seq ${message.seq} from ${message.senderId}: ${JSON.stringify(message.body)}`;

/** Every acked clientMessageId stored exactly once, under the seq its ack named; nothing stored twice or unasked. */
function checkStorage(o: ChaosObservation, out: Violation[]): void {
  const stored = new Map<string, StoredItem[]>();
  for (const conversation of o.conversations) {
    for (const item of conversation.items) {
      if (item.clientMessageId === undefined || item.senderId === undefined) continue;
      const k = key(conversation.conversationId, item.senderId, item.clientMessageId);
      stored.set(k, [...(stored.get(k) ?? []), item]);
    }
  }
  const sent = new Set<string>();
  for (const send of o.sends) {
    const k = key(send.conversationId, send.senderId, send.clientMessageId);
    sent.add(k);
    const items = stored.get(k) ?? [];
    const where = `${send.clientMessageId} in ${send.conversationId}`;
    if (send.refused !== undefined)
      out.push({ invariant: 'send refused', detail: `${where}: ${send.refused}` });
    if (new Set(send.ackSeqs).size > 1) {
      out.push({
        invariant: 'acks agree',
        detail: `${where} was acked with seqs ${send.ackSeqs.join(', ')}`,
      });
    }
    if (items.length > 1) {
      out.push({
        invariant: 'stored once',
        detail: `${where} is stored at seqs ${items.map((i) => i.seq).join(', ')}`,
      });
    }
    const ackSeq = send.ackSeqs[0];
    if (ackSeq === undefined) continue;
    const item = items[0];
    if (item === undefined)
      out.push({ invariant: 'acked is stored', detail: `${where} was acked seq ${ackSeq}, not stored` });
    else if (item.seq !== ackSeq || item.body !== send.body) {
      out.push({
        invariant: 'stored as acked',
        detail: `${where} was acked seq ${ackSeq} with ${JSON.stringify(send.body)}; stored ${show(item as ShownMessage)}`,
      });
    }
  }
  for (const [k, items] of stored) {
    if (!sent.has(k))
      out.push({
        invariant: 'stored once',
        detail: `${k} is stored at seq ${items[0]?.seq} but was never sent`,
      });
  }
}

/** Seqs 1..lastSeq each one item; tombstones only where no ack names the seq. */
function checkSeqs(o: ChaosObservation, out: Violation[]): void {
  const acked = new Set(o.sends.flatMap((s) => s.ackSeqs.map((seq) => `${s.conversationId} ${seq}`)));
  for (const conversation of o.conversations) {
    const seqs = new Set(conversation.items.map((item) => item.seq));
    const missing: number[] = [];
    for (let seq = 1; seq <= conversation.lastSeq; seq++) if (!seqs.has(seq)) missing.push(seq);
    if (missing.length > 0) {
      out.push({
        invariant: 'seqs dense',
        detail: `${conversation.conversationId} has no item at seqs ${missing.join(', ')}`,
      });
    }
    const beyond = conversation.items.filter((item) => item.seq < 1 || item.seq > conversation.lastSeq);
    if (beyond.length > 0) {
      out.push({
        invariant: 'seqs dense',
        detail: `${conversation.conversationId} has items past lastSeq ${conversation.lastSeq}: ${beyond.map((i) => i.seq).join(', ')}`,
      });
    }
    for (const item of conversation.items) {
      if (item.tombstone === true && acked.has(`${conversation.conversationId} ${item.seq}`)) {
        out.push({
          invariant: 'tombstones unacked',
          detail: `${conversation.conversationId} seq ${item.seq} is a tombstone, and an ack names it`,
        });
      }
    }
  }
}

/** Each raw subscriber holds every message of history as stored; the SDK showed history exactly, in order. */
function checkTranscripts(o: ChaosObservation, out: Violation[]): void {
  const history = new Map(o.conversations.map((c) => [c.conversationId, c.history]));
  for (const { userId, conversationId, held } of o.raw) {
    const expected = history.get(conversationId) ?? [];
    const bySeq = new Map(held.map((entry) => [entry.seq, entry]));
    const wrong = expected.filter((message) => {
      const entry = bySeq.get(message.seq);
      return entry?.body !== message.body || entry.senderId !== message.senderId;
    });
    const extra = held.filter(
      (entry) => entry.tombstone !== true && !expected.some((m) => m.seq === entry.seq),
    );
    if (wrong.length > 0 || extra.length > 0) {
      const first = wrong[0];
      out.push({
        invariant: 'raw transcript = history',
        detail:
          `${userId} in ${conversationId}: ${wrong.length} of ${expected.length} messages missing or different` +
          (first === undefined
            ? ''
            : ` (first: history has ${show(first)}, the subscriber ${JSON.stringify(bySeq.get(first.seq) ?? 'nothing')})`) +
          (extra.length > 0
            ? `; ${extra.length} not in history (seqs ${extra.map((e) => e.seq).join(', ')})`
            : ''),
      });
    }
  }
  for (const { userId, conversationId, shown } of o.sdk) {
    const expected = history.get(conversationId) ?? [];
    const at = expected.findIndex(
      (message, i) => shown[i] === undefined || !sameMessage(message, shown[i] as ShownMessage),
    );
    if (at === -1 && shown.length === expected.length) continue;
    const index = at === -1 ? expected.length : at;
    out.push({
      invariant: 'SDK transcript = history',
      detail: `${userId} in ${conversationId}: showed ${shown.length} messages for history's ${expected.length}; first difference at position ${index + 1}: history has ${show(expected[index])}, the app was shown ${show(shown[index])}`,
    });
  }
}

/** Whether a fault with one of `effects` fired in `functionName` between `from` and `to`. */
const firedIn = (
  o: ChaosObservation,
  effects: readonly string[],
  functionName: string,
  from: number,
  to: number,
) =>
  o.fired.some(
    (f) =>
      effects.includes(f.effect) &&
      (f.functionName ?? functionName) === functionName &&
      f.at >= from - 50 &&
      f.at <= to + 50,
  );

/** Every frame answered within its budget, by the route (a crash's gateway error only where a crash was injected). */
function checkFrames(o: ChaosObservation, out: Violation[]): void {
  const closedAt = new Map(o.sockets.map((s) => [s.id, s.closedAt]));
  for (const frame of o.frames) {
    const what = `${frame.action} ${frame.clientMessageId ?? ''} (socket ${frame.socket}, request ${frame.requestId})`;
    const due = frame.sentAt + o.budgetMs;
    if (frame.answer === undefined || frame.answeredAt === undefined) {
      const closed = closedAt.get(frame.socket);
      // A socket that died before the answer was due took the answer with it; a frame not yet due is not late.
      if ((closed !== undefined && closed < due) || due > o.checkedAt) continue;
      out.push({ invariant: 'frames answered', detail: `${what} got no answer` });
      continue;
    }
    const took = frame.answeredAt - frame.sentAt;
    const fn = o.functionOf(frame.action);
    if (took > o.budgetMs)
      out.push({
        invariant: 'frames answered in time',
        detail: `${what} answered ${frame.answer} after ${took} ms`,
      });
    if (frame.answer === 'gateway-timeout')
      out.push({ invariant: 'frames answered', detail: `${what}: API Gateway's integration timeout` });
    if (
      frame.answer === 'gateway-error' &&
      !firedIn(o, ['crash-before', 'crash-after'], fn, frame.sentAt, frame.answeredAt)
    ) {
      out.push({
        invariant: 'frames answered',
        detail: `${what}: API Gateway's Internal server error, and no crash was injected in ${fn}`,
      });
    }
    if (
      frame.answer === 'error:internal_error' &&
      !firedIn(o, ['server-error'], fn, frame.sentAt, frame.answeredAt)
    ) {
      out.push({
        invariant: 'no internal_error',
        detail: `${what}: internal_error, and no server error was injected in ${fn}`,
      });
    }
  }
}

/**
 * The run tried something: every sender got at least one message acked. Without this, a run whose
 * workload never got through (or never started) would pass every other check vacuously.
 */
function checkWorkload(o: ChaosObservation, out: Violation[]): void {
  const senders = new Map<string, number>();
  for (const send of o.sends)
    senders.set(send.senderId, (senders.get(send.senderId) ?? 0) + send.ackSeqs.length);
  if (senders.size === 0) out.push({ invariant: 'workload acked', detail: 'the workload sent nothing' });
  for (const [senderId, acks] of senders) {
    if (acks === 0) out.push({ invariant: 'workload acked', detail: `${senderId} got no message acked` });
  }
}

/** Every violation of the run, grouped by invariant in the order above. */
export function checkChaos(o: ChaosObservation): Violation[] {
  const out: Violation[] = [];
  checkWorkload(o, out);
  checkStorage(o, out);
  checkSeqs(o, out);
  checkTranscripts(o, out);
  checkFrames(o, out);
  if (o.deadLetters > 0)
    out.push({ invariant: 'DLQ empty', detail: `${o.deadLetters} letters left after the redrive` });
  if (o.probeFailure !== undefined) out.push({ invariant: 'healthy at the end', detail: o.probeFailure });
  return out;
}
