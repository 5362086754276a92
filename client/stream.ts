/**
 * One conversation as the app sees it: each message exactly once, in seq order (G4), whatever order,
 * how many times and over how many connections the server delivered it.
 */
import { CLIENT_LIMITS } from '../shared/client-limits';
import { type ConversationState, ConversationStateKeeper } from './conversation-state';
import { Emitter } from './emitter';
import { type OlderPage, toMembership, toMessage, toOlderPage, versionOf } from './pages';
import {
  type Actions,
  type ChatMessage,
  ChatRequestError,
  type MembershipEvent,
  type MessageUpdate,
  type ReadEvent,
  type Scheduler,
  type StoredEntry,
  type TypingEvent,
} from './types';

export interface StreamEvents {
  /** The next message in seq order, in its latest known version. Never a duplicate, never a tombstone. */
  message: ChatMessage;
  /** A message already delivered (or read with `loadOlder`) was edited or deleted: its newer version. */
  update: MessageUpdate;
  /** Another member is typing here (ephemeral; show it for a few seconds). */
  typing: TypingEvent;
  /** A membership change, in seq order with the messages (from a push or a page). */
  membership: MembershipEvent;
  /** A member's read cursor moved here (ephemeral): mark your messages up to `seq` as seen by them. */
  read: ReadEvent;
  /** The server refused the subscription or a read (for example: no longer a member). The stream is closed. */
  error: ChatRequestError;
  /** The conversation's state changed (members, typing, read cursors, online, last seq): the new `room.state`. */
  state: ConversationState;
}

/** What a stream needs from the client. */
export interface StreamHost {
  /** A request on the current connection; rejects with `no_answer` when it is lost. */
  request<A extends 'subscribe' | 'history' | 'unsubscribe' | 'presence'>(
    action: A,
    fields: Actions[A]['fields'],
  ): Promise<Actions[A]['ack']>;
  isOpen(): boolean;
  forget(stream: ConversationStream): void;
  scheduler: Scheduler;
  /** How long a gap may stay open before the missing range is read with `history`. */
  gapWaitMs: number;
  /** The members as this client last heard them (it created or listed the conversation), if it did. */
  members?: readonly string[];
}

/** A gap still open after a history read waits longer each time, up to the writer lease: by then it is filled. */
const MAX_GAP_WAIT_MS = CLIENT_LIMITS.writerLeaseMs;

/**
 * Where a stream starts: after `afterSeq` (a seq the app has), else with the last `backlog` entries
 * (default LIMITS.defaultPageSize, at most LIMITS.maxPageSize; 0: live ones only).
 */
export interface StreamStart {
  afterSeq?: number;
  backlog?: number;
}

export class ConversationStream extends Emitter<StreamEvents> {
  /** Highest seq delivered: every seq up to it has been emitted or skipped. Undefined until the first subscribe answers. */
  private delivered: number | undefined;
  /** Lowest seq the stream started from or paged back to; `loadOlder` reads below it. */
  private oldest: number | undefined;
  /** Highest seq known to exist (pushed, acked or counted by the server). */
  private top = 0;
  /** Entries above a missing seq, held until the gap closes. */
  private readonly held = new Map<number, StoredEntry>();
  /** The highest version of each seq delivered or read: an older edit or delete is ignored. */
  private readonly versions = new Map<number, number>();
  /** Edits and deletes of seqs not delivered yet, applied when their message is. */
  private readonly changes = new Map<number, MessageUpdate>();
  /** True from a (re)connect until the subscribe pages are in: gaps are not repaired meanwhile. */
  private syncing = true;
  private repairing = false;
  private cancelGapTimer: (() => void) | undefined;
  private gapRetries = 0;
  private generation = 0;
  private closed = false;
  private older: Promise<unknown> = Promise.resolve();
  private readonly keeper: ConversationStateKeeper;
  /** Entries to read with `history` before the first live seq, when the stream did not start after a seq. */
  private readonly backlog: number;
  private resolveReady!: () => void;
  private rejectReady!: (error: ChatRequestError) => void;

  /** Resolves once the first subscribe (and its backlog pages) is in; rejects if it is refused. */
  readonly ready = new Promise<void>((resolve, reject) => {
    this.resolveReady = resolve;
    this.rejectReady = reject;
  });

  constructor(
    readonly conversationId: string,
    start: StreamStart,
    private readonly host: StreamHost,
  ) {
    super();
    this.ready.catch(() => {}); // the error event reports it too; an unwatched promise must not crash Node
    this.keeper = new ConversationStateKeeper(
      host.scheduler,
      (state) => this.emit('state', state),
      host.members,
    );
    const { afterSeq, backlog = CLIENT_LIMITS.defaultPageSize } = start;
    this.backlog = afterSeq === undefined ? Math.max(0, Math.min(backlog, CLIENT_LIMITS.maxPageSize)) : 0;
    if (afterSeq !== undefined) this.startAt(afterSeq);
  }

  /** Members, typing, read cursors, online and last seq as known now; `on('state')` tells each change. */
  get state(): ConversationState {
    return this.keeper.state;
  }

  /** The members who have read `seq` (their read cursor is at it or past it), as far as known. */
  seenBy(seq: number): string[] {
    return this.keeper.seenBy(seq);
  }

  /** The last seq delivered: persist it and pass it as `afterSeq` to resume later. */
  get lastSeq(): number | undefined {
    return this.delivered;
  }

  /**
   * Subscribes on the current connection: with `afterSeq` = the last seq delivered, paging while the
   * server says `hasMore` (G5); the first time without a seq, it reads the last `backlog` entries. Then
   * asks `presence` for the state (`ready` does not wait for it). Called on every (re)connect.
   */
  async sync(): Promise<void> {
    const generation = ++this.generation;
    this.syncing = true;
    this.stopGapTimer();
    try {
      let afterSeq = this.delivered;
      for (;;) {
        const page = await this.host.request('subscribe', { conversationId: this.conversationId, afterSeq });
        if (generation !== this.generation || this.closed) return;
        if (this.delivered === undefined && !(await this.startWithBacklog(page.lastSeq, generation))) return;
        this.accept(page.messages, page.lastSeq);
        this.viewers(page.memberCount, page.lastSeq);
        const last = page.messages.at(-1);
        if (!page.hasMore || last === undefined) break;
        afterSeq = last.seq;
      }
      this.syncing = false;
      this.resolveReady();
      this.listMembers(generation);
      this.checkGap();
    } catch (err: unknown) {
      if (generation === this.generation) this.refused(err);
    }
  }

  /** Asks who is online, and (small groups) the members and their read cursors, for the state. */
  private listMembers(generation: number): void {
    this.host.request('presence', { conversationId: this.conversationId }).then(
      (ack) => generation === this.generation && !this.closed && this.keeper.listed(ack),
      () => undefined, // the state stays as the pushes make it; the next (re)connect asks again
    );
  }

  /** The connection is gone: nothing to repair until the next one has re-subscribed, nobody known online. */
  pause(): void {
    this.syncing = true;
    this.stopGapTimer();
    if (!this.closed) this.keeper.disconnected();
  }

  /** Takes pushed or paged entries in any order, with duplicates; delivers what is now in order. */
  accept(entries: StoredEntry[], lastSeq = 0): void {
    if (this.closed) return;
    this.top = Math.max(this.top, lastSeq);
    for (const entry of entries) {
      // A room's message, pushed or acked, tells the viewer count as it took its seq.
      const { viewers } = entry as { viewers?: number };
      if (viewers !== undefined) this.keeper.viewers(viewers, entry.seq);
      const held = this.held.get(entry.seq);
      if (!(entry.seq > (this.delivered ?? 0)) || (held && versionOf(held) >= versionOf(entry))) continue;
      this.held.set(entry.seq, entry);
      this.top = Math.max(this.top, entry.seq);
    }
    if (this.delivered === undefined) return;
    const senders = new Set<string>();
    for (let next = this.held.get(this.delivered + 1); next; next = this.held.get(this.delivered + 1)) {
      this.held.delete(next.seq);
      this.delivered = next.seq;
      this.gapRetries = 0;
      const change = this.changes.get(next.seq);
      this.changes.delete(next.seq);
      if (change && change.version > versionOf(next)) {
        this.versions.set(next.seq, change.version);
        if (change.deleted || 'tombstone' in next) continue;
        senders.add(next.senderId);
        this.emit(
          'message',
          toMessage({ ...next, body: change.body, editedAt: change.editedAt }, change.version),
        );
      } else if (!('tombstone' in next)) {
        senders.add(next.senderId);
        this.versions.set(next.seq, versionOf(next));
        this.emit('message', toMessage(next, versionOf(next)));
      } else if ('deleted' in next) this.versions.set(next.seq, versionOf(next));
      else if ('kind' in next) {
        const event = toMembership(next);
        this.keeper.membership(event);
        this.emit('membership', event);
      }
    }
    this.keeper.delivered(this.delivered, senders);
    this.checkGap();
  }

  /**
   * An `edited` or `deleted` push: reported as an `update` if its message was delivered in an older
   * version, kept for the message if it is not delivered yet, ignored if it is not newer.
   */
  change(update: MessageUpdate): void {
    if (this.closed) return;
    const known = this.versions.get(update.seq);
    if (known !== undefined || update.seq <= (this.delivered ?? 0)) {
      if (known !== undefined && update.version <= known) return;
      this.versions.set(update.seq, update.version);
      this.emit('update', update);
      return;
    }
    const pending = this.changes.get(update.seq);
    if (!pending || pending.version < update.version) this.changes.set(update.seq, update);
  }

  /** A `read` push for this conversation. */
  read(event: ReadEvent): void {
    if (this.closed) return;
    this.keeper.read(event.userId, event.seq);
    this.emit('read', event);
  }

  /** A `typing` push for this conversation. */
  typing(event: TypingEvent): void {
    if (this.closed) return;
    this.keeper.typed(event.userId);
    this.emit('typing', event);
  }

  /** A `presence` push: it counts here if `userId` is a member. */
  presence(userId: string, online: boolean): void {
    if (!this.closed) this.keeper.presence(userId, online);
  }

  /** A room's viewer count, from an answer (subscribe, or a room action's) at the room's last seq `seq`. */
  viewers(count: number | undefined, seq: number): void {
    if (!this.closed) this.keeper.viewers(count, seq);
  }

  /**
   * A send of this client was acked: its message, made of the ack and the outbox entry, as the push
   * this connection is not sent would have been. A late push of it is a duplicate, dropped. An ack
   * answered `duplicate` gives only the seq: the message was stored by an earlier attempt and may have
   * been edited or deleted since, so the backlog or the gap repair brings it as it is stored.
   */
  sent(message: StoredEntry, duplicate = false): void {
    this.accept(duplicate ? [] : [message], message.seq);
  }

  /**
   * Reads the page before the oldest seq this stream has (scroll-back). Calls run one at a time, each
   * continuing where the previous one stopped.
   */
  loadOlder(limit: number = CLIENT_LIMITS.defaultPageSize): Promise<OlderPage> {
    const page = this.older.then(async (): Promise<OlderPage> => {
      await this.ready;
      const beforeSeq = this.oldest ?? 1;
      if (beforeSeq <= 1) return { messages: [], deleted: [], membership: [], hasMore: false };
      const ack = await this.host.request('history', {
        conversationId: this.conversationId,
        beforeSeq,
        limit,
      });
      this.oldest = ack.messages[0]?.seq ?? (ack.hasMore ? beforeSeq : 1);
      for (const entry of ack.messages)
        if ('version' in entry && !this.versions.has(entry.seq))
          this.versions.set(entry.seq, versionOf(entry));
      return toOlderPage(ack);
    });
    this.older = page.catch(() => {});
    return page;
  }

  /** Stops the stream and unsubscribes this connection. */
  close(): void {
    if (this.closed) return;
    this.shutDown(new ChatRequestError('closed', 'The stream is closed'));
    if (this.host.isOpen())
      this.host.request('unsubscribe', { conversationId: this.conversationId }).catch(() => {});
  }

  /** Ends the stream without a word to the server (the client is closing). */
  shutDown(error: ChatRequestError): void {
    this.closed = true;
    this.stopGapTimer();
    this.keeper.close();
    this.rejectReady(error);
    this.host.forget(this);
  }

  /**
   * The first subscribe answered `lastSeq` and the stream has no seq to start after: it starts before
   * the last `backlog` entries (read with one `history`), which the gap repair completes if the page
   * came back short. False when a newer sync took over meanwhile.
   */
  private async startWithBacklog(lastSeq: number, generation: number): Promise<boolean> {
    if (this.backlog === 0 || lastSeq === 0) {
      this.startAt(lastSeq);
      return true;
    }
    const page = await this.host.request('history', {
      conversationId: this.conversationId,
      beforeSeq: lastSeq + 1,
      limit: this.backlog,
    });
    if (generation !== this.generation || this.closed) return false;
    this.startAt(Math.max(0, lastSeq - this.backlog));
    this.accept(page.messages, page.lastSeq);
    return true;
  }

  private startAt(seq: number): void {
    this.delivered = seq;
    this.oldest = seq + 1;
    this.top = Math.max(this.top, seq);
    for (const held of this.held.keys()) if (held <= seq) this.held.delete(held);
  }

  /** An error that is not about the connection ends the stream; a lost connection is re-synced on the next. */
  private refused(err: unknown): void {
    const error = err instanceof ChatRequestError ? err : new ChatRequestError('internal_error', String(err));
    if (error.code === 'no_answer' || error.code === 'closed' || this.closed) return;
    this.shutDown(error);
    this.emit('error', error);
  }

  private stopGapTimer(): void {
    this.cancelGapTimer?.();
    this.cancelGapTimer = undefined;
  }

  private checkGap(): void {
    const delivered = this.delivered;
    if (delivered === undefined || (this.held.size === 0 && this.top <= delivered)) {
      this.stopGapTimer();
      this.gapRetries = 0;
      return;
    }
    if (this.syncing || this.repairing || this.cancelGapTimer || this.closed) return;
    // Two senders' messages may be pushed out of order, and a push comes a little after its ack:
    // wait briefly before reading what may be on its way anyway.
    const delay = Math.min(this.host.gapWaitMs * 2 ** this.gapRetries, MAX_GAP_WAIT_MS);
    this.cancelGapTimer = this.host.scheduler.after(delay, () => {
      this.cancelGapTimer = undefined;
      void this.repair();
    });
  }

  /** Reads the lowest missing range with `history`; what the page lacks (a writer still storing) comes live or on the next try. */
  private async repair(): Promise<void> {
    const delivered = this.delivered;
    if (delivered === undefined || this.syncing || !this.host.isOpen()) return;
    const end = Math.min(this.top + 1, ...this.held.keys());
    const beforeSeq = Math.min(end, delivered + 1 + CLIENT_LIMITS.maxPageSize);
    this.repairing = true;
    this.gapRetries++;
    try {
      const page = await this.host.request('history', {
        conversationId: this.conversationId,
        beforeSeq,
        limit: beforeSeq - delivered - 1,
      });
      this.repairing = false;
      this.accept(page.messages, page.lastSeq);
    } catch (err: unknown) {
      this.repairing = false;
      this.refused(err);
      this.checkGap();
    }
  }
}
