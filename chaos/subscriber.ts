/**
 * A listener on a raw socket, as a non-SDK client writes one: it subscribes to each conversation, keeps
 * what the backlog pages and the pushes brought (by seq), and when its socket dies it reconnects and
 * subscribes again with `afterSeq` = the highest seq below which it holds every seq (G5). What it must end
 * with is in ./invariants.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Ledger } from './ledger';
import { type Frame, RawSocket } from './socket';

/** One seq as a subscriber holds it: a message (sender and body) or a tombstone a page showed. */
export interface HeldEntry {
  seq: number;
  senderId?: string;
  body?: string;
  tombstone?: true;
}

/** A message push as it arrived, for recovery times. */
export interface Arrival {
  conversationId: string;
  seq: number;
  at: number;
}

export interface SubscriberOptions {
  userId: string;
  conversationIds: readonly string[];
  connectUrl: (userId: string) => Promise<string>;
  ledger: Ledger;
}

export class RawSubscriber {
  readonly held = new Map<string, Map<number, HeldEntry>>();
  readonly arrivals: Arrival[] = [];
  /** Message pushes of a seq already held: at-least-once delivery, allowed on a raw socket. */
  duplicates = 0;
  sessions = 0;
  /** Whether its first connection has subscribed to every conversation. */
  ready = false;
  private socket: RawSocket | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: SubscriberOptions) {
    for (const id of options.conversationIds) this.held.set(id, new Map());
  }

  get userId(): string {
    return this.options.userId;
  }

  /** Connects and subscribes; from then on every lost socket is replaced and resubscribed. */
  start(): void {
    this.running = this.keepListening();
  }

  /** Kills the socket client-side (no close frame); the subscriber reconnects. */
  kill(): void {
    this.socket?.terminate();
  }

  /** The highest seq with every seq up to it held: the `afterSeq` of a resubscribe. */
  contiguous(conversationId: string): number {
    const held = this.held.get(conversationId);
    let seq = 0;
    while (held?.has(seq + 1)) seq++;
    return seq;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.socket?.close();
    await this.running;
  }

  private async keepListening(): Promise<void> {
    let delay = 250;
    while (!this.stopped) {
      try {
        const url = await this.options.connectUrl(this.userId);
        const socket = await RawSocket.open(url, this.userId, this.options.ledger, (frame) =>
          this.onPush(frame),
        );
        this.socket = socket;
        this.sessions++;
        const closed = new Promise<void>((resolve) => socket.onClose(resolve));
        for (const conversationId of this.options.conversationIds)
          await this.subscribe(socket, conversationId);
        this.ready ||= socket.isOpen;
        delay = 250;
        await closed;
      } catch {
        await sleep(delay);
        delay = Math.min(delay * 2, 2_000);
      }
    }
  }

  /** Subscribes from the contiguous mark and pages while `hasMore`, resending what is refused or unanswered. */
  private async subscribe(socket: RawSocket, conversationId: string): Promise<void> {
    let afterSeq = this.contiguous(conversationId);
    while (socket.isOpen && !this.stopped) {
      const { reply } = socket.request(
        { action: 'subscribe', conversationId, afterSeq },
        this.options.ledger,
      );
      const answer = await reply;
      if (answer === undefined) return;
      if (answer.type !== 'ack') {
        const wait = typeof answer.retryAfterMs === 'number' ? answer.retryAfterMs : 500;
        await sleep(Math.min(wait, 5_000));
        continue;
      }
      const entries = Array.isArray(answer.messages) ? (answer.messages as Frame[]) : [];
      for (const entry of entries) this.hold(conversationId, entry);
      const last = entries.at(-1);
      if (answer.hasMore !== true || last === undefined) return;
      afterSeq = Number(last.seq);
    }
  }

  private onPush(frame: Frame): void {
    const frames =
      frame.type === 'batch' && Array.isArray(frame.frames) ? (frame.frames as Frame[]) : [frame];
    for (const push of frames) {
      if (push.type !== 'message') continue;
      const conversationId = String(push.conversationId);
      this.arrivals.push({ conversationId, seq: Number(push.seq), at: Date.now() });
      if (this.held.get(conversationId)?.has(Number(push.seq))) this.duplicates++;
      else this.hold(conversationId, push);
    }
  }

  private hold(conversationId: string, entry: Frame): void {
    const held = this.held.get(conversationId);
    const seq = Number(entry.seq);
    if (held === undefined || seq < 1) return;
    held.set(
      seq,
      entry.tombstone === true
        ? { seq, tombstone: true }
        : { seq, senderId: String(entry.senderId), body: String(entry.body) },
    );
  }
}
