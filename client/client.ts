/**
 * The client: the SDK's public API over one connection (./socket.ts), its request pipeline
 * (./requests.ts), the frames it receives (./pushes.ts), the outbox (./outbox.ts) and the conversation
 * streams (./stream.ts).
 */
import type { BackoffPolicy } from '../shared/backoff';
import { CLIENT_LIMITS } from '../shared/client-limits';
import { ChatCalls } from './calls';
import { type ClientEvents, type ConnectOptions, randomId, systemScheduler } from './options';
import { MemoryOutboxStore, Outbox, type OutboxEntry } from './outbox';
import { type AttachedAck, attached, type OutboxChange, type PendingSend } from './pending-send';
import { receiveFrame } from './pushes';
import { Requests } from './requests';
import { Connection } from './socket';
import { ConversationStream, type StreamStart } from './stream';
import {
  type Action,
  type Actions,
  type Attachment,
  type AttachmentContentType,
  ChatRequestError,
  type ConnectionState,
  type Conversation,
  type DeleteAck,
  type EditAck,
  type RoomInfo,
  type Scheduler,
  type SendAck,
} from './types';
import type { Fetch, FileData, FileToSend } from './uploads';

/** A chat connection. Create it with {@link connect}. */
export class ChatClient extends ChatCalls {
  private readonly connection: Connection;
  private readonly requests: Requests;
  private readonly streams = new Map<string, ConversationStream>();
  /** The last presence heard of each user, so a repeated one is not reported again. */
  private readonly presenceOf = new Map<string, boolean>();
  /** The members of the conversations this client created, to start their streams' state with. */
  private readonly membersOf = new Map<string, string[]>();
  /** When this client last sent `typing` per conversation: the server's throttle, kept here too. */
  private readonly typedAt = new Map<string, number>();
  private readonly outboxQueue: Outbox;
  private readonly scheduler: Scheduler;

  constructor(private readonly options: ConnectOptions) {
    super();
    const scheduler = options.scheduler ?? systemScheduler;
    const random = options.random ?? Math.random;
    const backoff: BackoffPolicy = options.backoff ?? { baseDelayMs: 1_000, maxDelayMs: 30_000 };
    const timeoutMs = options.requestTimeoutMs ?? 15_000;
    this.scheduler = scheduler;
    this.connection = new Connection(options, {
      scheduler,
      random,
      backoff,
      timeoutMs,
      emit: (type, event) => this.emit(type, event),
      opened: () => {
        for (const stream of this.streams.values()) void stream.sync();
        this.requests.pump();
      },
      frame: (data) =>
        receiveFrame(data, {
          stream: (conversationId) => this.streams.get(conversationId),
          streams: () => this.streams.values(),
          emit: (type, event) => this.emit(type, event),
          presenceOf: this.presenceOf,
          answer: (frame) => this.requests.answer(frame),
          anonymousError: () => this.requests.anonymousError(),
          tokenExpired: () => this.connection.replace('token_expired'),
        }),
      lost: () => {
        this.requests.connectionLost();
        for (const stream of this.streams.values()) stream.pause();
      },
      gaveUp: () => this.shutDown('gave_up'),
      authFailed: () => this.shutDown('auth_failed'),
    });
    this.requests = new Requests({
      scheduler,
      random,
      backoff,
      timeoutMs,
      isOpen: () => this.connection.state === 'open',
      isClosed: () => this.connection.state === 'closed',
      received: () => this.connection.received,
      write: (text) => this.connection.write(text),
      replace: (reason) => this.connection.replace(reason),
    });
    this.outboxQueue = new Outbox(options.outboxStore ?? new MemoryOutboxStore(), {
      send: (fields) => this.request('send', fields),
      uploads: {
        request: (action, fields) => this.request(action, fields),
        // Called as a plain function: a browser's fetch throws "Illegal invocation" on any other `this`.
        fetch: options.fetch ?? ((url, init) => (globalThis.fetch as unknown as Fetch)(url, init)),
      },
      emit: (event) => this.emit('outbox', event),
      acked: (message, duplicate) => this.streams.get(message.conversationId)?.sent(message, duplicate),
      report: (error) => this.emit('error', { error }),
      now: () => this.scheduler.now(),
      newId: options.newId ?? randomId,
    });
    // Connect after the caller has attached its listeners, so it sees the first `connecting`.
    queueMicrotask(() => void this.connection.dial());
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /**
   * Sends a message through the outbox: it is `pending` at once (an `outbox` event), resent with the
   * same clientMessageId until acked, and `failed` only on a permanent error. With `file`, the message
   * takes its place at once (`uploading` until its upload is confirmed; `body` defaults to the file's
   * name) and later messages of the conversation wait behind it; a file that cannot be uploaded makes
   * it `failed`, with the reason. `await` it for the ack; its `clientMessageId` is there at once.
   */
  send(
    conversationId: string,
    body: string,
    options: { attachment?: Attachment; file?: FileToSend } = {},
  ): PendingSend {
    return this.outboxQueue.send(conversationId, body, options);
  }

  /** `send(conversationId, body, { file: { data: file, contentType } })`, answered as {@link AttachedAck}. */
  attach(
    conversationId: string,
    file: FileData,
    contentType: AttachmentContentType,
    body = '',
  ): PendingSend<AttachedAck> {
    return attached(this.send(conversationId, body, { file: { data: file, contentType } }));
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

  /** Forgets a failed message (failed messages stay in the outbox, and its store, until then). */
  discard(clientMessageId: string): boolean {
    return this.outboxQueue.discard(clientMessageId);
  }

  /**
   * Opens (or returns the open) ordered stream of a conversation, with its state (`room.state`). With
   * `afterSeq` it delivers every entry after that seq, then live ones; without it, the last `backlog`
   * entries (default LIMITS.defaultPageSize, at most LIMITS.maxPageSize; 0: live only), then live ones.
   */
  conversation(conversationId: string, options: StreamStart = {}): ConversationStream {
    const existing = this.streams.get(conversationId);
    if (existing) return existing;
    const stream = new ConversationStream(conversationId, options, {
      request: (action, fields) => this.request(action, fields),
      isOpen: () => this.connection.state === 'open',
      forget: (s) => this.streams.get(s.conversationId) === s && this.streams.delete(s.conversationId),
      scheduler: this.scheduler,
      gapWaitMs: this.options.gapWaitMs ?? 1_000,
      members: this.membersOf.get(conversationId),
    });
    this.streams.set(conversationId, stream);
    if (this.connection.state === 'open') void stream.sync();
    if (this.connection.state === 'closed')
      stream.shutDown(new ChatRequestError('closed', 'The client is closed'));
    return stream;
  }

  createConversation(members: string[], title?: string): Promise<Conversation> {
    return this.request('createConversation', { members, title }).then((ack) => this.known(ack.conversation));
  }

  /** The one direct conversation with `userId`: created the first time, the same one every time after. */
  openDirect(userId: string): Promise<Conversation> {
    return this.request('createConversation', { members: [userId], direct: true }).then((ack) =>
      this.known(ack.conversation),
    );
  }

  /**
   * Replaces the body of your message at `seq`; subscribers get an `update` event with the new version.
   * By clientMessageId (as `send` answered it): a message not sent yet changes in the outbox (answered
   * with an {@link OutboxChange}), one on the wire is edited right after its ack, and one acked by this
   * client recently is edited by its seq.
   */
  edit(conversationId: string, seq: number, body: string): Promise<EditAck>;
  edit(
    conversationId: string,
    seqOrClientMessageId: number | string,
    body: string,
  ): Promise<EditAck | OutboxChange>;
  async edit(conversationId: string, id: number | string, body: string): Promise<EditAck | OutboxChange> {
    const seq = await this.outboxQueue.change(conversationId, id, body);
    return typeof seq === 'number' ? this.request('edit', { conversationId, seq, body }) : seq;
  }

  /**
   * Deletes your message at `seq` (it keeps its seq; subscribers get an `update` with `deleted: true`).
   * By clientMessageId, as `edit`: a message not sent yet leaves the outbox and its `send()` rejects
   * `cancelled` (no `outbox` event: the app removes it from view, as after `discard`).
   */
  delete(conversationId: string, seq: number): Promise<DeleteAck>;
  delete(conversationId: string, seqOrClientMessageId: number | string): Promise<DeleteAck | OutboxChange>;
  async delete(conversationId: string, id: number | string): Promise<DeleteAck | OutboxChange> {
    const seq = await this.outboxQueue.change(conversationId, id, undefined);
    return typeof seq === 'number' ? this.request('delete', { conversationId, seq }) : seq;
  }

  /**
   * Tells the other members you are typing. Call it on every keystroke: it sends at most once per
   * throttle window (3 s) per conversation, and nothing while disconnected. Resolves true when sent.
   */
  typing(conversationId: string): Promise<boolean> {
    const now = this.scheduler.now();
    const last = this.typedAt.get(conversationId);
    if (
      this.connection.state !== 'open' ||
      (last !== undefined && now - last < CLIENT_LIMITS.typingThrottleMs)
    )
      return Promise.resolve(false);
    this.typedAt.set(conversationId, now);
    return this.request('typing', { conversationId }).then(
      (ack) => !ack.throttled,
      () => false,
    );
  }

  request<A extends Action>(action: A, fields: Actions[A]['fields']): Promise<Actions[A]['ack']> {
    return this.requests.request(action, fields);
  }

  /** Closes the connection for good. Unsent messages stay in the outbox store for the next client. */
  close(): void {
    this.shutDown('client');
  }

  protected roomHeard(room: RoomInfo): void {
    this.streams.get(room.conversationId)?.viewers(room.memberCount, room.lastSeq);
  }

  /** Remembers a created conversation's members for its stream's state. */
  private known(conversation: Conversation): Conversation {
    this.membersOf.set(conversation.conversationId, conversation.members);
    return conversation;
  }

  private shutDown(reason: ClientEvents['closed']['reason']): void {
    if (this.connection.state === 'closed') return;
    this.connection.close();
    const closed = new ChatRequestError('closed', 'The client is closed');
    this.requests.failAll(closed);
    for (const stream of [...this.streams.values()]) stream.shutDown(closed);
    this.outboxQueue.close();
    this.emit('closed', { reason });
  }
}
