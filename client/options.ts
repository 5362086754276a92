/** What `connect` takes, and the events a client emits. */
import type { BackoffPolicy } from '../shared/backoff';
import type { OutboxEvent, OutboxStore } from './outbox';
import type {
  ActivityEvent,
  Invitation,
  MembershipEvent,
  PresenceEvent,
  ReadEvent,
  ReconnectReason,
  Scheduler,
  TokenRequest,
  TypingEvent,
  WebSocketConstructor,
} from './types';
import type { Fetch } from './uploads';

export interface ConnectOptions {
  /** The stage URL, `wss://<api>.execute-api.<region>.amazonaws.com/<stage>` (or `ws://127.0.0.1:3001/local`). */
  url: string;
  /** A fixed token. Prefer `tokenProvider` for long sessions: tokens expire. */
  token?: string;
  /**
   * Called before every connection attempt, so an expired token is replaced by a fresh one. The request
   * says why: after `expired` or `refused` the last token must not be returned again (refresh it).
   */
  tokenProvider?: (request: TokenRequest) => string | Promise<string>;
  /**
   * After this many refused handshakes in a row the client emits `auth_failed` (the user must sign in
   * again); with a fixed `token` it also closes, since that token will never be accepted. @default 3
   */
  maxAuthRefusals?: number;
  /** @default globalThis.WebSocket (browsers, Node ≥ 22); on Node 20 pass the `ws` package's export. */
  WebSocket?: WebSocketConstructor;
  /** Where unsent messages are kept. @default new MemoryOutboxStore() */
  outboxStore?: OutboxStore;
  /** @default the platform's Date.now and setTimeout */
  scheduler?: Scheduler;
  /** Uniform in [0, 1), for the reconnect jitter. @default Math.random */
  random?: () => number;
  /** Makes clientMessageIds (1-64 of A-Za-z0-9_.:-). @default crypto.randomUUID */
  newId?: () => string;
  /** Reconnect delay: full jitter below a ceiling that doubles per failed attempt. @default { baseDelayMs: 1000, maxDelayMs: 30000 } */
  backoff?: BackoffPolicy;
  /** Give up (state `closed`, reason `gave_up`) after this many failed attempts in a row. @default Infinity */
  maxReconnectAttempts?: number;
  /**
   * How long to wait for an answer before resending (or, when nothing at all came back meanwhile,
   * before declaring the connection dead). Longer than a send can run (10 s). @default 15000
   */
  requestTimeoutMs?: number;
  /** Sends a keepalive after this long without sending anything; API Gateway drops a connection idle for 10 min. @default 300000 */
  keepaliveMs?: number;
  /** Replaces the connection after this long; API Gateway closes it at 2 h. @default 6600000 (110 min) */
  maxConnectionMs?: number;
  /** How long a gap in seqs may stay open before the missing range is read with `history`. @default 1000 */
  gapWaitMs?: number;
  /** Uploads attachments (a multipart form POST). @default globalThis.fetch */
  fetch?: Fetch;
}

export type { FileData } from './uploads';

export interface ClientEvents {
  connecting: { attempt: number };
  open: { attempt: number };
  reconnecting: { attempt: number; delayMs: number; reason: ReconnectReason };
  closed: { reason: 'client' | 'gave_up' | 'auth_failed' };
  /**
   * The server refused `refusals` handshakes in a row: the tokens the app has are not accepted. `message`
   * says so in words, for the user. A client with a `tokenProvider` keeps trying (with backoff), so it
   * recovers once the provider has a token of a new sign-in.
   */
  auth_failed: { refusals: number; message: string };
  outbox: OutboxEvent;
  /** A background failure that stops nothing (an outbox store that cannot save, a token provider that threw). */
  error: { error: unknown };
  /** Another member is typing in a conversation this connection subscribes to (ephemeral: show it ~4 s). */
  typing: TypingEvent;
  /** A member of a conversation this connection subscribes to came online or went offline. */
  presence: PresenceEvent;
  /** A member's read cursor moved, in a conversation this connection subscribes to (receipts: "seen"). */
  read: ReadEvent;
  /** A new message in one of your conversations that this connection does not subscribe to (the live list). */
  activity: ActivityEvent;
  /**
   * A membership change this connection heard: in a conversation it subscribes to (also delivered in
   * order on the stream), or one that names you, wherever you are connected: you were added (the
   * conversation is new to your list), removed, or left from another tab (it leaves your list).
   */
  membership: MembershipEvent;
  /**
   * You were invited to a group (your `whoCanAdd` did not admit the one who added you), on every
   * connection of yours: show it with `accept` / `decline`. `listInvitations()` has the ones you missed.
   */
  invitation: Invitation;
}

export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  after(ms, fn) {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
};

/** A UUID; pages served over plain http (not localhost) have no randomUUID, but do have getRandomValues. */
export function randomId(): string {
  const { crypto } = globalThis;
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join(
    '',
  );
}
