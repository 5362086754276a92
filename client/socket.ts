/**
 * The connection state machine: it (re)connects with a fresh token, keeps the socket alive and young,
 * and replaces it when it dies, goes silent, grows old or outlives its token, with backoff between failed
 * attempts. It tells the token provider why it asks, and the app when tokens keep being refused.
 */
import { type BackoffPolicy, fullJitterDelay } from '../shared/backoff';
import type { ClientEvents, ConnectOptions } from './options';
import type {
  ConnectionState,
  ReconnectReason,
  Scheduler,
  TokenRequest,
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
const DEFAULT_MAX_AUTH_REFUSALS = 3;
/**
 * A socket told `token_expired` this soon after opening (its first frames go out on open) was given a token
 * already past its exp (the authorizer tolerates 5 s of clock skew, and a provider may hand out a cached
 * token): reconnecting at once could loop, so it waits its backoff like any failure. Short, so that even
 * tokens of a few seconds are replaced at once when they expire in use.
 */
const STALE_TOKEN_MS = 2_000;

/**
 * Why the server refused a socket's handshake, as its error event says: `refused` (401 or 403: the token
 * was not accepted) or `too_many_connections` (429: the user has LIMITS.maxConnectionsPerUser open).
 * Only Node's `ws` says so ("Unexpected server response: 401"); a browser does not, and its refused
 * handshake looks like any failed one (then an expired token is still told by its `exp`: {@link expiryOf}).
 */
function refusal(event: unknown): ReconnectReason | undefined {
  const { message, error } = (event ?? {}) as { message?: unknown; error?: { message?: unknown } };
  const status = /\b(40[13]|429)\b/.exec(typeof message === 'string' ? message : String(error?.message))?.[1];
  return status === undefined ? undefined : status === '429' ? 'too_many_connections' : 'refused';
}

/**
 * The `exp` of a JWT in epoch ms, read without verifying it (only to tell the provider why a token is
 * asked for); undefined for a token that is not a JWT with an `exp`.
 */
function expiryOf(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** What the connection tells the client it belongs to. */
export interface SocketHost {
  scheduler: Scheduler;
  random: () => number;
  backoff: BackoffPolicy;
  /** How long a keepalive waits for any frame before the connection is declared dead. */
  timeoutMs: number;
  emit<K extends 'connecting' | 'open' | 'reconnecting' | 'error' | 'auth_failed'>(
    type: K,
    event: ClientEvents[K],
  ): void;
  /** The socket opened: resume what waits for it. */
  opened(): void;
  /** A frame arrived on the current socket. */
  frame(data: unknown): void;
  /** The current socket is gone; a new one is on its way. */
  lost(): void;
  /** `maxReconnectAttempts` failed in a row: the client closes. */
  gaveUp(): void;
  /** A fixed token was refused `maxAuthRefusals` times in a row: the client closes. */
  authFailed(): void;
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
  /** Why the next token is asked for. */
  private tokenRequest: TokenRequest = { reason: 'connect', refusals: 0 };
  /** The `exp` (epoch ms) of the token of the current socket, when it is a JWT. */
  private tokenExpiry: number | undefined;
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
      throw new Error('No global WebSocket (Node 20): pass connect({ WebSocket: require("ws") })');
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
      const token =
        (this.options.tokenProvider
          ? await this.options.tokenProvider(this.tokenRequest)
          : this.options.token) ?? '';
      if (this.currentState !== 'connecting') return;
      const url = new URL(this.options.url);
      url.searchParams.set('token', token);
      socket = new this.WebSocket(url.toString());
      this.tokenExpiry = expiryOf(token);
    } catch (error: unknown) {
      this.host.emit('error', { error });
      this.reconnect('lost');
      return;
    }
    this.socket = socket;
    let refused: ReconnectReason = 'lost';
    socket.onopen = () => this.opened(socket);
    socket.onmessage = (event: { data: unknown }) => this.onFrame(socket, event.data);
    socket.onclose = () => socket === this.socket && this.lost(refused);
    // A close event follows; it decides, knowing whether and why the handshake was refused.
    socket.onerror = (event: unknown) => {
      if (this.currentState === 'connecting' && refused === 'lost') refused = refusal(event) ?? 'lost';
    };
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
    this.tokenRequest = { reason: 'reconnect', refusals: 0 };
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
    const now = this.host.scheduler.now();
    if (this.currentState === 'open' && now - this.openedAt >= STABLE_AFTER_MS) this.attempt = 0;
    this.host.lost();
    if (reason === 'refused') {
      const refusals = this.tokenRequest.refusals + 1;
      this.tokenRequest = { reason: 'refused', refusals };
      if (refusals === (this.options.maxAuthRefusals ?? DEFAULT_MAX_AUTH_REFUSALS)) {
        this.host.emit('auth_failed', {
          refusals,
          message: `The server refused the sign-in ${refusals} times in a row: sign in again.`,
        });
        if (this.options.tokenProvider === undefined) {
          this.host.authFailed();
          return;
        }
      }
    } else {
      // AWS may close the socket before its `token_expired` answer is out: the token's own exp tells.
      const expired =
        reason === 'token_expired' || (this.tokenExpiry !== undefined && now >= this.tokenExpiry);
      this.tokenRequest = { reason: expired ? 'expired' : 'reconnect', refusals: 0 };
    }
    // A connection that reached its age limit or outlived its token is replaced at once: nothing is wrong
    // with the server.
    const outlived = reason === 'token_expired' && now - this.openedAt >= STALE_TOKEN_MS;
    this.reconnect(reason, reason === 'max_age' || outlived);
  }

  private reconnect(reason: ReconnectReason, immediate = false): void {
    if (this.currentState === 'closed') return;
    if (this.attempt >= (this.options.maxReconnectAttempts ?? Number.POSITIVE_INFINITY)) {
      this.host.gaveUp();
      return;
    }
    this.attempt++;
    const delayMs = immediate ? 0 : fullJitterDelay(this.attempt, this.host.random, this.host.backoff);
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
