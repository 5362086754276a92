/** The request pipeline: each request until it is answered, and what may be resent or outlive its connection. */
import { type BackoffPolicy, fullJitterDelay } from '../shared/backoff';
import { CLIENT_LIMITS } from '../shared/client-limits';
import { type Action, type Actions, ChatRequestError, type ReconnectReason, type Scheduler } from './types';

/** A request as long as it is not finished: possibly several attempts, each with its own requestId. */
interface Pending {
  frame: Record<string, unknown>;
  /** Survives a lost connection (sent again on the next); otherwise it fails with `no_answer` once sent. */
  durable: boolean;
  /** Safe to send twice, so an unanswered attempt is resent; otherwise it fails with `no_answer`. */
  resend: boolean;
  attempts: number;
  /** The requestId of the attempt awaiting its answer on the current connection. */
  current: string | undefined;
  /** Frames received on the connection when the current attempt went out. */
  receivedBefore: number;
  /** Cancels the answer deadline, or the wait before the next attempt. */
  cancelTimer: (() => void) | undefined;
  ids: string[];
  resolve(ack: unknown): void;
  reject(error: ChatRequestError): void;
}

/** Outlives its connection and is safe to send twice: most actions. */
const SAFE = { durable: true, resend: true };

/** Per action: may it outlive its connection (durable), may it be sent twice (resend). */
const POLICY: Record<Action, { durable: boolean; resend: boolean }> = {
  send: SAFE, // the clientMessageId makes a resend the same message (G3)
  history: SAFE,
  addMembers: SAFE, // existing members are skipped
  subscribe: { durable: false, resend: true }, // a subscription belongs to one connection
  unsubscribe: { durable: false, resend: true },
  createConversation: { durable: false, resend: false }, // a second one would make a second conversation
  listConversations: SAFE,
  read: SAFE, // the cursor only moves forward
  edit: SAFE, // the same body again is acked `duplicate`
  delete: SAFE, // deleting again is acked `duplicate`
  typing: { durable: false, resend: false }, // ephemeral: a late one is worse than none
  presence: SAFE,
  uploadUrl: SAFE, // an unused URL costs nothing
  // Confirming again finds the attachment already made and answers it.
  confirmUpload: SAFE,
  downloadUrl: SAFE,
  removeMember: SAFE, // a second removal acks `removed: false`
  leave: SAFE,
  promote: SAFE, // promoting an admin acks `promoted: false`
  block: SAFE, // the list is a set: blocking twice acks `changed: false`
  unblock: SAFE,
  listBlocked: SAFE,
  setWhoCanAdd: SAFE, // setting the same value twice changes nothing
  listInvitations: SAFE,
  accept: SAFE, // an answered invitation acks `joined: false`
  decline: SAFE,
  createRoom: { durable: false, resend: false }, // a second one would make a second room
  joinRoom: SAFE, // joining again acks `joined: false`
  roomInfo: SAFE,
  setSlowMode: SAFE, // setting the same value twice changes nothing
  unbanMember: SAFE, // lifting it again acks `unbanned: false`
  listBanned: SAFE,
  newInviteCode: SAFE, // a second new code stops the first too
  setTick: SAFE,
};

/** API Gateway's anonymous "Internal server error" names no request: every unanswered one is resent after this. */
const ANONYMOUS_ERROR_WAIT_MS = 2_000;

const utf8Length = (text: string): number => new TextEncoder().encode(text).length;

/** What the pipeline needs of the connection it sends on. */
export interface RequestHost {
  scheduler: Scheduler;
  random: () => number;
  backoff: BackoffPolicy;
  /** How long to wait for an answer before resending it, or declaring a silent connection dead. */
  timeoutMs: number;
  isOpen(): boolean;
  isClosed(): boolean;
  /** Frames received on the current connection: an attempt that saw none arrive after it met a dead socket. */
  received(): number;
  write(text: string): void;
  /** Drops the current connection (silent, or gone server-side) and connects again. */
  replace(reason: ReconnectReason): void;
}

/** Every request not yet finished, matched to its answers by requestId. */
export class Requests {
  private nextRequestId = 0;
  private readonly pending = new Set<Pending>();
  private readonly byRequestId = new Map<string, Pending>();

  constructor(private readonly host: RequestHost) {}

  /**
   * Sends one request and resolves with its ack. Retryable errors are retried (after `retryAfterMs`
   * when the server gives one); permanent ones reject with a {@link ChatRequestError}.
   */
  request<A extends Action>(action: A, fields: Actions[A]['fields']): Promise<Actions[A]['ack']> {
    return new Promise((resolve, reject) => {
      const request: Pending = {
        frame: { action, ...fields },
        ...POLICY[action],
        attempts: 0,
        current: undefined,
        receivedBefore: 0,
        cancelTimer: undefined,
        ids: [],
        resolve: resolve as (ack: unknown) => void,
        reject,
      };
      if (this.host.isClosed()) return reject(new ChatRequestError('closed', 'The client is closed'));
      this.pending.add(request);
      this.pump();
    });
  }

  /** Handles an `ack` or `error` frame: it answers the attempt that carried its requestId, if any. */
  answer(frame: Record<string, unknown>): void {
    const request = this.byRequestId.get(String(frame.requestId));
    if (request) this.answered(request, frame);
  }

  /** API Gateway's own error ("Internal server error"): its requestId is AWS's, not ours. */
  anonymousError(): void {
    for (const request of this.pending)
      if (request.current !== undefined) this.awaitAnswer(request, ANONYMOUS_ERROR_WAIT_MS);
  }

  /** The connection was lost: what belongs to it fails, the rest goes out again on the next one. */
  connectionLost(): void {
    for (const request of this.pending) {
      // A request that is not durable belongs to the connection it went out on.
      if (!request.durable && request.attempts > 0)
        this.finish(request, new ChatRequestError('no_answer', 'The connection was lost'));
      else if (request.current !== undefined) {
        // Its answer can no longer come: it goes out again on the next connection.
        request.current = undefined;
        request.cancelTimer?.();
        request.cancelTimer = undefined;
      }
    }
  }

  /** Fails every request: the client is closed. */
  failAll(error: ChatRequestError): void {
    for (const request of this.pending) this.finish(request, error);
  }

  /** Sends every request that is neither awaiting an answer nor waiting to retry. */
  pump(): void {
    if (!this.host.isOpen()) return;
    for (const request of this.pending) {
      if (request.current === undefined && request.cancelTimer === undefined) this.transmit(request);
    }
  }

  private transmit(request: Pending): void {
    const requestId = String(++this.nextRequestId);
    const text = JSON.stringify({ ...request.frame, requestId });
    // A frame over the limit makes API Gateway close the socket; resending it would loop forever.
    if (utf8Length(text) > CLIENT_LIMITS.maxFrameBytes) {
      this.finish(
        request,
        new ChatRequestError('payload_too_large', `The frame is over ${CLIENT_LIMITS.maxFrameBytes} bytes`),
      );
      return;
    }
    request.attempts++;
    request.current = requestId;
    request.ids.push(requestId);
    request.receivedBefore = this.host.received();
    this.byRequestId.set(requestId, request);
    this.awaitAnswer(request, this.host.timeoutMs);
    this.host.write(text);
  }

  private awaitAnswer(request: Pending, ms: number): void {
    request.cancelTimer?.();
    request.cancelTimer = this.host.scheduler.after(ms, () => {
      request.cancelTimer = undefined;
      // Nothing at all came back since it was sent: the socket is dead, though it never said so.
      if (this.host.received() === request.receivedBefore) this.host.replace('no_answer');
      else if (request.resend) {
        request.current = undefined;
        this.pump();
      } else
        this.finish(
          request,
          new ChatRequestError('no_answer', 'No answer came; it may or may not have been done'),
        );
    });
  }

  private answered(request: Pending, frame: Record<string, unknown>): void {
    if (frame.type === 'ack') {
      const { type: _type, action: _action, requestId: _requestId, ...ack } = frame;
      this.finish(request, undefined, ack);
      return;
    }
    const { requestId, code, message, retryable, retryAfterMs } = frame;
    if (retryable !== true) {
      this.finish(request, new ChatRequestError(code as ChatRequestError['code'], String(message)));
      return;
    }
    // A request that is not safe to send twice may have taken effect before the error (a createConversation
    // that ran out of time may still have created it): the app decides, as for a lost answer.
    if (!request.resend) {
      this.finish(
        request,
        new ChatRequestError('no_answer', `${String(message)}; it may or may not have taken effect`),
      );
      return;
    }
    // A newer attempt is out (this answer is an older one's): wait for that one instead.
    if (requestId !== request.current) return;
    // The connection is gone server-side: a new one resends this (or fails it, if it belongs to this one).
    if (code === 'connection_gone') {
      this.host.replace('connection_gone');
      return;
    }
    request.current = undefined;
    const delayMs =
      typeof retryAfterMs === 'number'
        ? retryAfterMs
        : fullJitterDelay(request.attempts, this.host.random, this.host.backoff);
    // `busy` may mean the first attempt is still running: its ack, when it comes, still settles this.
    request.cancelTimer?.();
    request.cancelTimer = this.host.scheduler.after(delayMs, () => {
      request.cancelTimer = undefined;
      this.pump();
    });
  }

  private finish(request: Pending, error: ChatRequestError | undefined, ack?: unknown): void {
    request.cancelTimer?.();
    this.pending.delete(request);
    for (const id of request.ids) this.byRequestId.delete(id);
    if (error) request.reject(error);
    else request.resolve(ack);
  }
}
