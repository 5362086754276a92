/**
 * The connection: a state machine that (re)connects with a fresh token, keeps the socket alive and
 * young, and matches every request to its answer, resending what was not answered.
 */
import { type BackoffPolicy, fullJitterDelay } from '../shared/backoff';
import { LIMITS } from '../shared/limits';
import { Emitter } from './emitter';
import { type ClientEvents, type ConnectOptions, type FileData, randomId, systemScheduler } from './options';
import { MemoryOutboxStore, Outbox, type OutboxEntry } from './outbox';
import { toActivity, toUpdate } from './pushes';
import { type Pending, POLICY, utf8Length } from './requests';
import { ConversationStream } from './stream';
import {
  type Action,
  type Actions,
  type Attachment,
  type AttachmentContentType,
  ChatRequestError,
  type ConnectionState,
  type Conversation,
  type MembershipEntry,
  type MembershipEvent,
  type Page,
  type ReconnectReason,
  type Scheduler,
  type SendAck,
  type StoredEntry,
  type WebSocketConstructor,
  type WebSocketLike,
} from './types';

/** A connection open this long was healthy: the next failure starts the backoff from the beginning. */
const STABLE_AFTER_MS = 60_000;
/** API Gateway's anonymous "Internal server error" names no request: every unanswered one is resent after this. */
const ANONYMOUS_ERROR_WAIT_MS = 2_000;
/**
 * The keepalive: the `ping` route acks without touching DynamoDB or SQS. The answer also proves the
 * connection alive, which a silent half-open socket is not. Its requestId has a letter, so it never
 * collides with a request's (decimal) ids.
 */
const KEEPALIVE_FRAME = '{"action":"ping","requestId":"keepalive"}';

/** A chat connection. Create it with {@link connect}. */
export class ChatClient extends Emitter<ClientEvents> {
  private currentState: ConnectionState = 'connecting';
  private socket: WebSocketLike | undefined;
  /** Failed attempts since the last stable connection. */
  private attempt = 0;
  private openedAt = 0;
  /** Frames received on this connection: an attempt that saw none arrive after it was sent met a dead socket. */
  private received = 0;
  private nextRequestId = 0;
  private readonly pending = new Set<Pending>();
  private readonly byRequestId = new Map<string, Pending>();
  private readonly streams = new Map<string, ConversationStream>();
  /** The last presence heard of each user, so a repeated one is not reported again. */
  private readonly presenceOf = new Map<string, boolean>();
  /** When this client last sent `typing` per conversation: the server's throttle, kept here too. */
  private readonly typedAt = new Map<string, number>();
  private readonly outboxQueue: Outbox;
  /** The timers of one connection (or of the wait before the next): age limit, keepalive, its probe, reconnect. */
  private readonly timers = new Map<'age' | 'keepalive' | 'probe' | 'reconnect', () => void>();
  private readonly scheduler: Scheduler;
  private readonly random: () => number;
  private readonly backoff: BackoffPolicy;
  private readonly WebSocket: WebSocketConstructor;

  constructor(private readonly options: ConnectOptions) {
    super();
    if (options.token === undefined && options.tokenProvider === undefined)
      throw new Error('connect() needs a token or a tokenProvider');
    const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WebSocket === undefined)
      throw new Error(
        'No global WebSocket here (Node 20): pass one, e.g. connect({ WebSocket: require("ws") })',
      );
    this.WebSocket = WebSocket;
    new URL(options.url); // a malformed URL is a mistake to report now, not a reason to retry forever
    this.scheduler = options.scheduler ?? systemScheduler;
    this.random = options.random ?? Math.random;
    this.backoff = options.backoff ?? { baseDelayMs: 1_000, maxDelayMs: 30_000 };
    this.outboxQueue = new Outbox(options.outboxStore ?? new MemoryOutboxStore(), {
      send: (fields) => this.request('send', fields),
      emit: (event) => this.emit('outbox', event),
      acked: (ack) => this.streams.get(ack.conversationId)?.expect(ack.seq),
      report: (error) => this.emit('error', { error }),
      now: () => this.scheduler.now(),
      newId: options.newId ?? randomId,
    });
    // Connect after the caller has attached its listeners, so it sees the first `connecting`.
    queueMicrotask(() => void this.dial());
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /**
   * Sends a message through the outbox: it is `pending` at once (an `outbox` event), resent with the
   * same clientMessageId until acked, and `failed` only on a permanent error.
   */
  send(
    conversationId: string,
    body: string,
    options: { attachment?: Attachment } = {},
  ): { clientMessageId: string; acked: Promise<SendAck> } {
    return this.outboxQueue.send(conversationId, body, options.attachment);
  }

  /**
   * Uploads a file and sends a message that carries it: asks `uploadUrl`, PUTs the bytes with exactly
   * the signed headers, then sends `body` (default: the content type) with the attachment through the
   * outbox. Rejects if the URL is refused (not a member, a type not allowed, too large) or the upload fails.
   */
  async attach(
    conversationId: string,
    file: FileData,
    contentType: AttachmentContentType,
    body?: string,
  ): Promise<{ clientMessageId: string; attachment: Attachment; acked: Promise<SendAck> }> {
    const size = file instanceof Uint8Array ? file.byteLength : file.size;
    const upload = await this.uploadUrl(conversationId, contentType, size);
    const fetcher =
      this.options.fetch ?? (globalThis.fetch as unknown as NonNullable<ConnectOptions['fetch']>);
    const response = await fetcher(upload.url, {
      method: upload.method,
      headers: upload.headers,
      body: file,
    });
    // Read to its end: S3 answers nothing on success and an XML error otherwise, and a browser reports a
    // response left unread as an aborted request.
    const answer = (await response.text?.().catch(() => '')) ?? '';
    if (!response.ok) {
      const code = /<Code>([^<]{1,64})<\/Code>/.exec(answer)?.[1];
      throw new ChatRequestError(
        'internal_error',
        `The upload failed with HTTP ${response.status}${code === undefined ? '' : ` (${code})`}`,
      );
    }
    const attachment: Attachment = { key: upload.key, contentType, size };
    return { ...this.send(conversationId, body ?? contentType, { attachment }), attachment };
  }

  /** A presigned PUT for one file of `contentType` and exactly `size` bytes (members only). */
  uploadUrl(
    conversationId: string,
    contentType: AttachmentContentType,
    size: number,
  ): Promise<Actions['uploadUrl']['ack']> {
    return this.request('uploadUrl', { conversationId, contentType, size });
  }

  /** A presigned GET of an attachment of the conversation, valid 5 minutes: ask for it when you show it. */
  downloadUrl(conversationId: string, key: string): Promise<Actions['downloadUrl']['ack']> {
    return this.request('downloadUrl', { conversationId, key });
  }

  /** Removes a member (creator or admin only; not in a direct conversation). Their subscriptions end at once. */
  removeMember(conversationId: string, userId: string): Promise<Actions['removeMember']['ack']> {
    return this.request('removeMember', { conversationId, userId });
  }

  /** Leaves a conversation (not a direct one); its open stream is closed. */
  async leave(conversationId: string): Promise<Actions['leave']['ack']> {
    const ack = await this.request('leave', { conversationId });
    this.streams.get(conversationId)?.shutDown(new ChatRequestError('closed', 'You left the conversation'));
    return ack;
  }

  /** The messages sent but not yet acked (pending, or failed and kept until retried or discarded). */
  outbox(conversationId?: string): OutboxEntry[] {
    return this.outboxQueue.list(conversationId);
  }

  /** Sends a failed message again with its clientMessageId. */
  retry(clientMessageId: string): Promise<SendAck> {
    return this.outboxQueue.retry(clientMessageId);
  }

  /** Forgets a failed message. */
  discard(clientMessageId: string): boolean {
    return this.outboxQueue.discard(clientMessageId);
  }

  /**
   * Opens (or returns the open) ordered stream of a conversation. With `afterSeq` it starts after that
   * seq and delivers the backlog first; without it, it starts at the conversation's current last seq.
   */
  conversation(conversationId: string, options: { afterSeq?: number } = {}): ConversationStream {
    const existing = this.streams.get(conversationId);
    if (existing) return existing;
    const stream = new ConversationStream(conversationId, options.afterSeq, {
      request: (action, fields) => this.request(action, fields),
      isOpen: () => this.currentState === 'open',
      forget: (s) => this.streams.get(s.conversationId) === s && this.streams.delete(s.conversationId),
      scheduler: this.scheduler,
      gapWaitMs: this.options.gapWaitMs ?? 1_000,
    });
    this.streams.set(conversationId, stream);
    if (this.currentState === 'open') void stream.sync();
    if (this.currentState === 'closed')
      stream.shutDown(new ChatRequestError('closed', 'The client is closed'));
    return stream;
  }

  createConversation(members: string[], title?: string): Promise<Conversation> {
    return this.request('createConversation', { members, title }).then((ack) => ack.conversation);
  }

  addMembers(conversationId: string, members: string[]): Promise<Actions['addMembers']['ack']> {
    return this.request('addMembers', { conversationId, members });
  }

  /** The one direct conversation with `userId`: created the first time, the same one every time after. */
  openDirect(userId: string): Promise<Conversation> {
    return this.request('createConversation', { members: [userId], direct: true }).then(
      (ack) => ack.conversation,
    );
  }

  /** Moves your read cursor in a conversation forward to `seq` (it never moves back). */
  markRead(conversationId: string, seq: number): Promise<Actions['read']['ack']> {
    return this.request('read', { conversationId, seq });
  }

  /** Replaces the body of your message at `seq`; subscribers get an `update` event with the new version. */
  edit(conversationId: string, seq: number, body: string): Promise<Actions['edit']['ack']> {
    return this.request('edit', { conversationId, seq, body });
  }

  /** Deletes your message at `seq` (it keeps its seq; subscribers get an `update` with `deleted: true`). */
  delete(conversationId: string, seq: number): Promise<Actions['delete']['ack']> {
    return this.request('delete', { conversationId, seq });
  }

  /**
   * Tells the other members you are typing. Call it on every keystroke: it sends at most once per
   * throttle window (3 s) per conversation, and nothing while disconnected. Resolves true when sent.
   */
  typing(conversationId: string): Promise<boolean> {
    const now = this.scheduler.now();
    const last = this.typedAt.get(conversationId);
    if (this.currentState !== 'open' || (last !== undefined && now - last < LIMITS.typingThrottleMs))
      return Promise.resolve(false);
    this.typedAt.set(conversationId, now);
    return this.request('typing', { conversationId }).then(
      (ack) => !ack.throttled,
      () => false,
    );
  }

  /**
   * Which members of a conversation are online now; `presence` events tell the changes after that.
   * `request('presence', …)` answers the whole ack: with `readSeqs`, every member's read cursor in
   * groups of up to 20 members, to show "seen by" before any `read` push.
   */
  presence(conversationId: string): Promise<string[]> {
    return this.request('presence', { conversationId }).then((ack) => ack.online);
  }

  /**
   * A page of the caller's conversations, newest activity first, with unread counts and each one's
   * newest entry (`last`). Pass the page's `nextCursor` as `cursor` for the next one.
   */
  listConversations(
    page: number | { limit?: number; cursor?: string } = {},
  ): Promise<Actions['listConversations']['ack']> {
    const { limit, cursor } = typeof page === 'number' ? { limit: page, cursor: undefined } : page;
    return this.request('listConversations', {
      ...(limit === undefined ? {} : { limit }),
      ...(cursor === undefined ? {} : { cursor }),
    });
  }

  /** A page of the messages before `beforeSeq` (default: the newest), ascending, tombstones included. */
  history(conversationId: string, options: { beforeSeq?: number; limit?: number } = {}): Promise<Page> {
    return this.request('history', { conversationId, ...options });
  }

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
      if (this.currentState === 'closed')
        return reject(new ChatRequestError('closed', 'The client is closed'));
      this.pending.add(request);
      this.pump();
    });
  }

  /** Closes the connection for good. Unsent messages stay in the outbox store for the next client. */
  close(): void {
    this.shutDown('client');
  }

  private shutDown(reason: 'client' | 'gave_up'): void {
    if (this.currentState === 'closed') return;
    this.currentState = 'closed';
    this.detach()?.close(1000);
    this.stopConnectionTimers();
    const closed = new ChatRequestError('closed', 'The client is closed');
    for (const request of this.pending) this.finish(request, closed);
    for (const stream of [...this.streams.values()]) stream.shutDown(closed);
    this.outboxQueue.close();
    this.emit('closed', { reason });
  }

  private async dial(): Promise<void> {
    if (this.currentState === 'closed') return;
    this.currentState = 'connecting';
    this.emit('connecting', { attempt: this.attempt });
    let socket: WebSocketLike;
    try {
      const token = this.options.tokenProvider ? await this.options.tokenProvider() : this.options.token;
      if (this.currentState !== 'connecting') return;
      const url = new URL(this.options.url);
      url.searchParams.set('token', token ?? '');
      socket = new this.WebSocket(url.toString());
    } catch (error: unknown) {
      this.emit('error', { error });
      this.reconnect('lost');
      return;
    }
    this.socket = socket;
    socket.onopen = () => this.opened(socket);
    socket.onmessage = (event: { data: unknown }) => this.onFrame(socket, event.data);
    socket.onclose = () => socket === this.socket && this.lost('lost');
    socket.onerror = () => {}; // a close event follows; it decides
  }

  private opened(socket: WebSocketLike): void {
    if (socket !== this.socket) return;
    const attempt = this.attempt;
    this.currentState = 'open';
    this.openedAt = this.scheduler.now();
    this.setTimer('age', this.options.maxConnectionMs ?? 110 * 60_000, () => this.replace('max_age'));
    this.armKeepalive();
    this.emit('open', { attempt });
    for (const stream of this.streams.values()) void stream.sync();
    this.pump();
  }

  /** Drops the current socket on purpose and connects again. */
  private replace(reason: ReconnectReason): void {
    this.detach()?.close(1000);
    this.lost(reason);
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
    if (this.currentState === 'open' && this.scheduler.now() - this.openedAt >= STABLE_AFTER_MS)
      this.attempt = 0;
    for (const request of this.pending) {
      // A request that is not durable belongs to the connection it went out on.
      if (!request.durable && request.attempts > 0)
        this.finish(request, new ChatRequestError('no_answer', 'The connection was lost before the answer'));
      else if (request.current !== undefined) {
        // Its answer can no longer come: it goes out again on the next connection.
        request.current = undefined;
        request.cancelTimer?.();
        request.cancelTimer = undefined;
      }
    }
    for (const stream of this.streams.values()) stream.pause();
    this.reconnect(reason);
  }

  private reconnect(reason: ReconnectReason): void {
    if (this.currentState === 'closed') return;
    if (this.attempt >= (this.options.maxReconnectAttempts ?? Number.POSITIVE_INFINITY)) {
      this.shutDown('gave_up');
      return;
    }
    this.attempt++;
    // A connection that reached its age limit is replaced at once: nothing is wrong with the server.
    const delayMs = reason === 'max_age' ? 0 : fullJitterDelay(this.attempt, this.random, this.backoff);
    this.currentState = 'reconnecting';
    this.emit('reconnecting', { attempt: this.attempt, delayMs, reason });
    this.setTimer('reconnect', delayMs, () => void this.dial());
  }

  private setTimer(name: 'age' | 'keepalive' | 'probe' | 'reconnect', ms: number, fn: () => void): void {
    this.timers.get(name)?.();
    this.timers.set(
      name,
      this.scheduler.after(ms, () => {
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
      const receivedBefore = this.received;
      this.write(KEEPALIVE_FRAME);
      this.setTimer('probe', this.requestTimeoutMs(), () => {
        if (this.received === receivedBefore) this.replace('no_answer');
      });
    });
  }

  private requestTimeoutMs(): number {
    return this.options.requestTimeoutMs ?? 15_000;
  }

  private write(frame: string): void {
    this.socket?.send(frame);
    this.armKeepalive();
  }

  /** Sends every request that is neither awaiting an answer nor waiting to retry. */
  private pump(): void {
    if (this.currentState !== 'open') return;
    for (const request of this.pending) {
      if (request.current === undefined && request.cancelTimer === undefined) this.transmit(request);
    }
  }

  private transmit(request: Pending): void {
    const requestId = String(++this.nextRequestId);
    const text = JSON.stringify({ ...request.frame, requestId });
    // A frame over the limit makes API Gateway close the socket; resending it would loop forever.
    if (utf8Length(text) > LIMITS.maxFrameBytes) {
      this.finish(
        request,
        new ChatRequestError('payload_too_large', `The frame is over ${LIMITS.maxFrameBytes} bytes`),
      );
      return;
    }
    request.attempts++;
    request.current = requestId;
    request.ids.push(requestId);
    request.receivedBefore = this.received;
    this.byRequestId.set(requestId, request);
    this.awaitAnswer(request, this.requestTimeoutMs());
    this.write(text);
  }

  private awaitAnswer(request: Pending, ms: number): void {
    request.cancelTimer?.();
    request.cancelTimer = this.scheduler.after(ms, () => {
      request.cancelTimer = undefined;
      // Nothing at all came back since it was sent: the socket is dead, though it never said so.
      if (this.received === request.receivedBefore) this.replace('no_answer');
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

  private onFrame(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.socket) return;
    this.received++;
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(String(data));
    } catch {
      return;
    }
    if (typeof frame !== 'object' || frame === null) return;
    if (frame.type === 'message') {
      if (typeof frame.seq === 'number' && typeof frame.conversationId === 'string')
        this.streams.get(frame.conversationId)?.accept([frame as unknown as StoredEntry]);
    } else if (frame.type === 'membership') {
      const { conversationId, seq, event, userIds, by, at } = frame;
      if (typeof conversationId !== 'string' || typeof seq !== 'number' || typeof event !== 'string') return;
      const entry = { conversationId, seq, tombstone: true, kind: event, userIds, by, at } as MembershipEntry;
      this.streams.get(conversationId)?.accept([entry]);
      if (Array.isArray(userIds) && typeof by === 'string' && typeof at === 'string')
        this.emit('membership', {
          conversationId,
          seq,
          kind: event as MembershipEvent['kind'],
          userIds: userIds.map(String),
          by,
          at,
        });
    } else if (frame.type === 'read') {
      const { conversationId, userId, seq } = frame;
      if (typeof conversationId !== 'string' || typeof userId !== 'string' || typeof seq !== 'number') return;
      this.streams.get(conversationId)?.read({ conversationId, userId, seq });
      this.emit('read', { conversationId, userId, seq });
    } else if (frame.type === 'edited' || frame.type === 'deleted') {
      const update = toUpdate(frame);
      if (update) this.streams.get(update.conversationId)?.change(update);
    } else if (frame.type === 'typing') {
      const { conversationId, userId } = frame;
      if (typeof conversationId !== 'string' || typeof userId !== 'string') return;
      this.streams.get(conversationId)?.typing({ conversationId, userId });
      this.emit('typing', { conversationId, userId });
    } else if (frame.type === 'activity') {
      const activity = toActivity(frame);
      if (activity) this.emit('activity', activity);
    } else if (frame.type === 'presence') {
      const { userId, online } = frame;
      if (typeof userId !== 'string' || typeof online !== 'boolean') return;
      // The server may say the same twice (announced at connect and again at a subscribe, or by two tabs
      // at once): only a change is an event.
      if (this.presenceOf.get(userId) === online) return;
      this.presenceOf.set(userId, online);
      this.emit('presence', { userId, online });
    } else if (frame.type === 'ack' || frame.type === 'error') {
      const request = this.byRequestId.get(String(frame.requestId));
      if (request) this.answered(request, frame);
    } else if (frame.type === undefined && typeof frame.message === 'string') {
      // API Gateway's own error ("Internal server error"): its requestId is AWS's, not ours.
      for (const request of this.pending)
        if (request.current !== undefined) this.awaitAnswer(request, ANONYMOUS_ERROR_WAIT_MS);
    }
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
      this.replace('connection_gone');
      return;
    }
    request.current = undefined;
    const delayMs =
      typeof retryAfterMs === 'number'
        ? retryAfterMs
        : fullJitterDelay(request.attempts, this.random, this.backoff);
    // `busy` may mean the first attempt is still running: its ack, when it comes, still settles this.
    request.cancelTimer?.();
    request.cancelTimer = this.scheduler.after(delayMs, () => {
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
