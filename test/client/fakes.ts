/**
 * Fakes for the client SDK's unit tests: a socket the test drives by hand (open, push, answer, drop)
 * and a clock whose timers run only when the test advances it.
 */
import { type ClientEvents, type ConnectOptions, connect, type Scheduler } from '../../client';

/** Lets every pending promise callback run (the real event loop, not a fake timer). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class FakeClock implements Scheduler {
  private time = 0;
  private timers: Array<{ at: number; order: number; fn: () => void }> = [];
  private order = 0;

  now(): number {
    return this.time;
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.time + Math.max(0, ms), order: this.order++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Moves time forward, running each timer due on the way at its own time, promises settled in between. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await settle();
    for (;;) {
      const next = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.time = next.at;
      next.fn();
      await settle();
    }
    this.time = end;
    await settle();
  }
}

export type Frame = Record<string, unknown> & { action: string; requestId: string };

export class FakeSocket {
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly sent: string[] = [];
  closedWith: number | undefined;
  /**
   * Streams ask `presence` after each subscribe for their state: this socket answers it (nobody online,
   * no read cursors) unless a test sets it false to answer by hand.
   */
  answersPresence = true;

  constructor(readonly url: string) {}

  send(data: string): void {
    this.sent.push(data);
    const frame = JSON.parse(data) as Frame;
    if (frame.action === 'presence' && this.answersPresence)
      queueMicrotask(() => this.ack(frame, { conversationId: frame.conversationId, online: [] }));
  }

  close(code?: number): void {
    this.closedWith = code;
  }

  /** The frames the client sent, parsed; only those of `action` when given. */
  frames(action?: string): Frame[] {
    return this.sent
      .map((text) => JSON.parse(text) as Frame)
      .filter((f) => action === undefined || f.action === action);
  }

  /** The last frame of `action` sent (or the one at `index`, as in Array.at). */
  last(action: string, index = -1): Frame {
    const frame = this.frames(action).at(index);
    if (frame === undefined) throw new Error(`no ${action} frame was sent; sent: ${this.sent.join('\n')}`);
    return frame;
  }

  open(): void {
    this.onopen?.({});
  }

  receive(frame: object | string): void {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }

  ack(frame: Frame, fields: object): void {
    this.receive({ type: 'ack', action: frame.action, requestId: frame.requestId, ...fields });
  }

  error(frame: Frame, code: string, fields: object = {}): void {
    const retryable = ['busy', 'internal_error', 'connection_gone'].includes(code);
    this.receive({ type: 'error', requestId: frame.requestId, code, message: code, retryable, ...fields });
  }

  push(conversationId: string, seq: number, body = `m${seq}`): void {
    this.receive({ type: 'message', conversationId, seq, senderId: 'bob', body, sentAt: `t${seq}` });
  }

  drop(code = 1006): void {
    this.onclose?.({ code, reason: '' });
  }
}

type EventLog = Array<{ [K in keyof ClientEvents]: [K, ClientEvents[K]] }[keyof ClientEvents]>;

/**
 * A client over fake sockets and a fake clock. `socket()` is the latest socket; `connectNow()` lets the
 * client dial and opens the socket it made.
 */
export function harness(options: Partial<ConnectOptions> = {}) {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  let ids = 0;
  const chat = connect({
    url: 'ws://chat.test/local',
    token: 'token-1',
    WebSocket: class extends FakeSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    },
    scheduler: clock,
    random: () => 0.5,
    newId: () => `m${++ids}`,
    ...options,
  });
  const events: EventLog = [];
  for (const type of ['connecting', 'open', 'reconnecting', 'closed', 'outbox', 'error'] as const)
    chat.on(type, (event) => events.push([type, event] as EventLog[number]));
  const socket = (): FakeSocket => {
    const last = sockets.at(-1);
    if (last === undefined) throw new Error('the client made no socket yet');
    return last;
  };
  const connectNow = async (): Promise<FakeSocket> => {
    await settle();
    const made = socket();
    made.open();
    await settle();
    return made;
  };
  return { chat, clock, sockets, events, socket, connectNow };
}
