/**
 * What an app shows around a conversation's messages (who is in it, typing, online, how far each member
 * has read), kept by the SDK from answers and pushes so that every app does not rebuild it.
 */
import { CLIENT_LIMITS } from '../shared/client-limits';
import type { MembershipEvent, PresenceAck, Scheduler } from './types';

/** A conversation's state as last known: a new object after every change, never mutated. */
export interface ConversationState {
  /**
   * The members: from the `presence` answer (groups of up to LIMITS.maxReadEventMembers members) or the
   * conversation this client created or listed, then kept by membership changes. Empty while not known.
   */
  members: readonly string[];
  /** Other members typing now; each is dropped LIMITS.typingShownMs after their last `typing`, or at their message. */
  typing: readonly string[];
  /** Each member's read cursor (every seq up to it is read by them), as far as known; it never moves back. */
  readSeqs: Readonly<Record<string, number>>;
  /** The members online now; empty while this client's own connection is down (nobody is known online then). */
  online: readonly string[];
  /** The last seq delivered by the stream (0 before the first). */
  lastSeq: number;
  /**
   * A room's viewer count (its members): from each message pushed or acked in the room, each subscribe
   * answer (every (re)connect) and every room answer this client hears (`roomInfo`, `joinRoom`,
   * `setSlowMode`), the one of the latest seq winning. Absent for other conversations.
   */
  viewers?: number;
}

/** Keeps one conversation's {@link ConversationState}; `changed` is called after each change. */
export class ConversationStateKeeper {
  private members: string[] | undefined;
  private readonly typing = new Map<string, () => void>();
  private readonly readSeqs = new Map<string, number>();
  private online = new Set<string>();
  /** Users heard of here (online, typing, reading, sending): the members as far as known when the list is not. */
  private readonly seen = new Set<string>();
  private lastSeq = 0;
  private viewerCount: number | undefined;
  /** The seq the viewer count was told at: a count told at an earlier one (a late push) is older. */
  private viewersAt = 0;
  private snapshot: ConversationState | undefined;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly changed: (state: ConversationState) => void,
    members?: readonly string[],
  ) {
    if (members) this.members = [...members];
  }

  get state(): ConversationState {
    this.snapshot ??= Object.freeze({
      members: Object.freeze([...(this.members ?? [])]),
      typing: Object.freeze([...this.typing.keys()]),
      readSeqs: Object.freeze(Object.fromEntries(this.readSeqs)),
      online: Object.freeze([...this.online]),
      lastSeq: this.lastSeq,
      viewers: this.viewerCount,
    });
    return this.snapshot;
  }

  /** The members whose read cursor is at `seq` or past it. */
  seenBy(seq: number): string[] {
    return [...this.readSeqs].filter(([, readSeq]) => readSeq >= seq).map(([userId]) => userId);
  }

  /** The `presence` answer: who is online now, and (small groups) every member and their read cursor. */
  listed(ack: PresenceAck): void {
    this.online = new Set(ack.online);
    for (const userId of ack.online) this.seen.add(userId);
    if (ack.readSeqs) {
      this.members = ack.readSeqs.map((member) => member.userId);
      for (const { userId, readSeq } of ack.readSeqs) this.raiseRead(userId, readSeq);
    }
    this.publish();
  }

  /** A membership change in seq order: the member list follows it; who is gone is no longer online or typing. */
  membership(event: MembershipEvent): void {
    if (event.kind === 'member_promoted') return;
    if (event.kind === 'member_added') {
      if (this.members) this.members = [...new Set([...this.members, ...event.userIds])];
    } else {
      const gone = new Set(event.kind === 'member_left' ? [event.by, ...event.userIds] : event.userIds);
      this.members = this.members?.filter((member) => !gone.has(member));
      for (const userId of gone) {
        this.seen.delete(userId);
        this.online.delete(userId);
        this.stopTyping(userId);
      }
    }
    this.publish();
  }

  /** A room's member count, as an answer or a message told it at `seq` (the room's last seq then). */
  viewers(count: number | undefined, seq: number): void {
    if (count === undefined || seq < this.viewersAt) return;
    this.viewersAt = seq;
    if (count === this.viewerCount) return;
    this.viewerCount = count;
    this.publish();
  }

  /** A `typing` push: shown until LIMITS.typingShownMs after the last one. */
  typed(userId: string): void {
    this.seen.add(userId);
    this.typing.get(userId)?.();
    this.typing.set(
      userId,
      this.scheduler.after(CLIENT_LIMITS.typingShownMs, () => {
        this.typing.delete(userId);
        this.publish();
      }),
    );
    this.publish();
  }

  /** Messages were delivered up to `lastSeq`: their senders are done typing them. */
  delivered(lastSeq: number, senders: Iterable<string>): void {
    let changed = lastSeq !== this.lastSeq;
    this.lastSeq = lastSeq;
    for (const sender of senders) {
      this.seen.add(sender);
      changed = this.stopTyping(sender) || changed;
    }
    if (changed) this.publish();
  }

  /** A `read` push (or this user's own read): a cursor only moves forward. */
  read(userId: string, seq: number): void {
    this.seen.add(userId);
    if (this.raiseRead(userId, seq)) this.publish();
  }

  /**
   * A `presence` push. The server announces users of every conversation this connection listens to, so
   * only members count here (while the list is not known, those heard of here).
   */
  presence(userId: string, online: boolean): void {
    if (online === this.online.has(userId)) return;
    if (online && !(this.members ? this.members.includes(userId) : this.seen.has(userId))) return;
    if (online) this.online.add(userId);
    else this.online.delete(userId);
    this.publish();
  }

  /** This client's connection is down: nobody is known online or typing until the next `presence` answer. */
  disconnected(): void {
    if (this.online.size === 0 && this.typing.size === 0) return;
    this.online.clear();
    for (const cancel of this.typing.values()) cancel();
    this.typing.clear();
    this.publish();
  }

  /** The stream closed: no timer is left behind. */
  close(): void {
    for (const cancel of this.typing.values()) cancel();
    this.typing.clear();
  }

  private stopTyping(userId: string): boolean {
    const cancel = this.typing.get(userId);
    if (!cancel) return false;
    cancel();
    this.typing.delete(userId);
    return true;
  }

  private raiseRead(userId: string, seq: number): boolean {
    const known = this.readSeqs.get(userId);
    if (known !== undefined && seq <= known) return false;
    this.readSeqs.set(userId, seq);
    return true;
  }

  private publish(): void {
    this.snapshot = undefined;
    this.changed(this.state);
  }
}
