/**
 * The connection state machine: it (re)connects with a fresh token, keeps the socket alive and young,
 * and replaces it when it dies, goes silent or grows old, with backoff between failed attempts.
 */
import { type BackoffPolicy, fullJitterDelay } from '../shared/backoff';
import type { ClientEvents, ConnectOptions } from './options';
import type {
  ConnectionState,
  ReconnectReason,
  Scheduler,
  WebSocketConstructor,
  WebSocketLike,
} from './types';

/** A connection open this long was healthy: the next failure starts the backoff from the beginning. */
const STABLE_AFTER_MS = 60_000;
/**
 * The keepalive: the `ping` route acks without touching DynamoDB or SQS. The answer also proves the
 * connection alive, which a silent half-open socket is not. Its requestId has a letter, so it never
 * collides with a request's (decimal) ids.
 */
const KEEPALIVE_FRAME = '{"action":"ping","requestId":"keepalive"}';

/** What the connection tells the client it belongs to. */
export interface SocketHost {
  scheduler: Scheduler;
  random: () => number;
  backoff: BackoffPolicy;
  /** How long a keepalive waits for any frame before the connection is declared dead. */
  timeoutMs: number;
  emit<K extends 'connecting' | 'open' | 'reconnecting' | 'error'>(type: K, event: ClientEvents[K]): void;
  /** The socket opened: resume what waits for it. */
  opened(): void;
  /** A frame arrived on the current socket. */
  frame(data: unknown): void;
  /** The current socket is gone; a new one is on its way. */
  lost(): void;
  /** `maxReconnectAttempts` failed in a row: the client closes. */
  gaveUp(): void;
}

/** One logical connection, over as many sockets as it takes. */
export class Connection {
  private currentState: ConnectionState = 'connecting';
  private socket: WebSocketLike | undefined;
  /** Failed attempts since the last stable connection. */
  private attempt = 0;
  private openedAt = 0;
  /** Frames received on this connection: an attempt that saw none arrive after it was sent met a dead socket. */
  private receivedCount = 0;
  /** The timers of one connection (or of the wait before the next): age limit, keepalive, its probe, reconnect. */
  private readonly timers = new Map<'age' | 'keepalive' | 'probe' | 'reconnect', () => void>();
  private readonly WebSocket: WebSocketConstructor;

  constructor(
    private readonly options: ConnectOptions,
    private readonly host: SocketHost,
  ) {
    if (options.token === undefined && options.tokenProvider === undefined)
      throw new Error('connect() needs a token or a tokenProvider');
    const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WebSocket === undefined)
      throw new Error(
        'No global WebSocket here (Node 20): pass one, e.g. connect({ WebSocket: require("ws") })',
      );
    this.WebSocket = WebSocket;
    new URL(options.url); // a malformed URL is a mistake to report now, not a reason to retry forever
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** Frames received on the current socket. */
  get received(): number {
    return this.receivedCount;
  }

  /** Closes the connection for good. */
  close(): void {
    this.currentState = 'closed';
    this.detach()?.close(1000);
    this.stopConnectionTimers();
  }

  async dial(): Promise<void> {
    if (this.currentState === 'closed') return;
    this.currentState = 'connecting';
    this.host.emit('connecting', { attempt: this.attempt });
    let socket: WebSocketLike;
    try {
      const token = this.options.tokenProvider ? await this.options.tokenProvider() : this.options.token;
      if (this.currentState !== 'connecting') return;
      const url = new URL(this.options.url);
      url.searchParams.set('token', token ?? '');
      socket = new this.WebSocket(url.toString());
    } catch (error: unknown) {
      this.host.emit('error', { error });
      this.reconnect('lost');
      return;
    }
    this.socket = socket;
    socket.onopen = () => this.opened(socket);
    socket.onmessage = (event: { data: unknown }) => this.onFrame(socket, event.data);
    socket.onclose = () => socket === this.socket && this.lost('lost');
    socket.onerror = () => {}; // a close event follows; it decides
  }

  /** Drops the current socket on purpose and connects again. */
  replace(reason: ReconnectReason): void {
    this.detach()?.close(1000);
    this.lost(reason);
  }

  write(frame: string): void {
    this.socket?.send(frame);
    this.armKeepalive();
  }

  private opened(socket: WebSocketLike): void {
    if (socket !== this.socket) return;
    const attempt = this.attempt;
    this.currentState = 'open';
    this.openedAt = this.host.scheduler.now();
    this.setTimer('age', this.options.maxConnectionMs ?? 110 * 60_000, () => this.replace('max_age'));
    this.armKeepalive();
    this.host.emit('open', { attempt });
    this.host.opened();
  }

  private onFrame(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.socket) return;
    this.receivedCount++;
    this.host.frame(data);
  }

  private detach(): WebSocketLike | undefined {
    const socket = this.socket;
    if (socket) socket.onopen = socket.onmessage = socket.onclose = null;
    this.socket = undefined;
    return socket;
  }

  private lost(reason: ReconnectReason): void {
    this.socket = undefined;
    this.stopConnectionTimers();
    if (this.currentState === 'open' && this.host.scheduler.now() - this.openedAt >= STABLE_AFTER_MS)
      this.attempt = 0;
    this.host.lost();
    this.reconnect(reason);
  }

  private reconnect(reason: ReconnectReason): void {
    if (this.currentState === 'closed') return;
    if (this.attempt >= (this.options.maxReconnectAttempts ?? Number.POSITIVE_INFINITY)) {
      this.host.gaveUp();
      return;
    }
    this.attempt++;
    // A connection that reached its age limit is replaced at once: nothing is wrong with the server.
    const delayMs =
      reason === 'max_age' ? 0 : fullJitterDelay(this.attempt, this.host.random, this.host.backoff);
    this.currentState = 'reconnecting';
    this.host.emit('reconnecting', { attempt: this.attempt, delayMs, reason });
    this.setTimer('reconnect', delayMs, () => void this.dial());
  }

  private setTimer(name: 'age' | 'keepalive' | 'probe' | 'reconnect', ms: number, fn: () => void): void {
    this.timers.get(name)?.();
    this.timers.set(
      name,
      this.host.scheduler.after(ms, () => {
        this.timers.delete(name);
        fn();
      }),
    );
  }

  private stopConnectionTimers(): void {
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
  }

  /** Re-armed by every frame sent: only a connection with nothing to say sends keepalives. */
  private armKeepalive(): void {
    this.setTimer('keepalive', this.options.keepaliveMs ?? 5 * 60_000, () => {
      const receivedBefore = this.receivedCount;
      this.write(KEEPALIVE_FRAME);
      this.setTimer('probe', this.host.timeoutMs, () => {
        if (this.receivedCount === receivedBefore) this.replace('no_answer');
      });
    });
  }
}
