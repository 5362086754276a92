/** One conversation on screen, and the user's lines turned into sends, edits, deletes, uploads, leaving. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type {
  ChatClient,
  ChatMessage,
  ConversationStream,
  MembershipEvent,
  MessageUpdate,
  OutboxEvent,
  SendAck,
} from '../../client';
import { errorWords, NOT_IN_CONVERSATION } from '../../client/error-words';
import { LIMITS } from '../../shared/limits';
import { COMMANDS, parseInput } from './args';
import {
  attachmentText,
  clock,
  errorText,
  line,
  membershipText,
  messageLine,
  preview,
  printable,
} from './format';
import { runMembershipCommand, showInvitations } from './membership-commands';
import { isRoomCommand, type RoomWatch } from './rooms';
import type { Screen, Shown } from './screen';
import { contentTypeOf } from './upload';

/**
 * Why the open conversation ended for this user: they left it (here or from another terminal), an
 * admin removed them, or the server will not show it (it no longer exists, as after a restart).
 */
export type Ending = { kind: 'left' } | { kind: 'removed'; by: string } | { kind: 'gone' };

/** A message this client sent, from `pending` to `sent` or `failed`. */
interface OwnMessage {
  body: string;
  /** Epoch ms when it was typed. */
  createdAt: number;
  shown: Shown;
  state: 'pending' | 'sent' | 'failed';
  /** A stored message of this user that came before the ack and matched this one's body. */
  early?: ChatMessage;
}

/**
 * One conversation on screen: history, then live messages in seq order, and the user's own messages
 * with their state. Own messages are shown when typed, so their copies in the stream are skipped.
 */
export class ConversationView {
  private readonly own = new Map<string, OwnMessage>();
  private readonly ownSeqs = new Set<number>();
  /** The seqs on screen: edits and deletes of these are shown. */
  private readonly shownSeqs = new Set<number>();
  private readSeq = 0;
  /** Own sends not yet acked or failed, and the newest seq acked: see sent(). */
  private sendsInFlight = 0;
  private newestOwnSeq = 0;
  /** Live messages and membership changes that came while the history was read; shown after it. */
  private held: Array<ChatMessage | MembershipEvent> | undefined = [];
  private readonly acks: Promise<unknown>[] = [];
  /** Set once the conversation is ending: why a line typed after that is not sent. */
  private stopped: string | undefined;
  /** Set when the conversation is a room: `/room`, `/slowmode`, `/tick` and the admins' commands go to it. */
  room: RoomWatch | undefined;

  /** @param ended told once this user is out of the conversation (see {@link Ending}); the session exits. */
  constructor(
    private readonly chat: ChatClient,
    private readonly stream: ConversationStream,
    private readonly screen: Screen,
    private readonly me: string | undefined,
    private readonly ended: (ending: Ending) => void,
  ) {
    stream.on('message', (m) => this.received(m));
    stream.on('membership', (event) => this.membershipChanged(event));
    // A room's ban is told at seq 0 (a room records no change), so it comes outside the stream's order.
    chat.on('membership', (event) => {
      if (event.seq === 0 && event.conversationId === stream.conversationId) this.membershipChanged(event);
    });
    stream.on('update', (u) => this.updated(u));
    showInvitations(chat, screen);
    chat.on('outbox', (event) => {
      if (event.entry.conversationId === stream.conversationId) this.outbox(event);
    });
  }

  /** Shows up to `size` messages before the ones that come live, then whatever came meanwhile. */
  async showHistory(size: number): Promise<void> {
    let history: ChatMessage[] = [];
    let changes: MembershipEvent[] = [];
    let hasMore = size > 0;
    while (history.length < size && hasMore) {
      const page = await this.stream.loadOlder(Math.min(LIMITS.maxPageSize, size - history.length));
      history = [...page.messages, ...history];
      changes = [...page.membership, ...changes];
      hasMore = page.hasMore;
    }
    history = history.slice(-size);
    if (history.length > 0) {
      const older = hasMore ? `; older ones with --history ${size * 2}` : '';
      const count = `${history.length} earlier message${history.length === 1 ? '' : 's'}`;
      this.screen.show(line([`── ${count}${older} ──`, 'dim']));
    } else if (size > 0) this.screen.show(line(['── no messages yet ──', 'dim']));
    // The changes among the messages shown (all of them when the history was read to its start).
    const from = hasMore ? (history[0]?.seq ?? Number.POSITIVE_INFINITY) : 0;
    const entries = [...history, ...changes.filter((c) => c.seq > from)].sort((a, b) => a.seq - b.seq);
    for (const entry of entries) {
      if ('kind' in entry) {
        this.showMembership(entry);
        continue;
      }
      this.shownSeqs.add(entry.seq);
      this.screen.show(
        messageLine(entry, entry.senderId === this.me, entry.editedAt ? ['(edited)', 'dim'] : undefined),
      );
      this.showAttachment(entry);
    }
    const held = this.held ?? [];
    this.held = undefined;
    for (const entry of held) {
      if ('kind' in entry) this.membershipChanged(entry);
      else this.received(entry);
    }
    this.markRead();
  }

  /** A line of input: a message to send, or an `/edit` or `/delete` command. */
  input(text: string): void {
    if (this.stopped !== undefined) {
      this.screen.note(line(['✗', 'red'], ` not sent (${this.stopped}): ${preview(text)}`));
      return;
    }
    const command = parseInput(text);
    const { conversationId } = this.stream;
    if (command.kind === 'send') {
      if (command.body.trim() !== '')
        this.acks.push(this.sent(this.chat.send(conversationId, command.body).acked));
    } else if (command.kind === 'invalid') this.screen.note(line([command.message, 'yellow']));
    else if (command.kind === 'help') this.screen.note(line([`The commands:\n${COMMANDS}`, 'dim']));
    else if (command.kind === 'attach') this.attach(command.path, command.caption);
    else if (command.kind === 'ban' && command.userId === this.me)
      // removeMember naming yourself is a leave: a typo must not take the admin out of their room.
      this.screen.note(line(['You cannot ban yourself; /leave leaves the room.', 'yellow']));
    else if (isRoomCommand(command))
      if (this.room) this.acks.push(this.room.run(command));
      else this.screen.note(line([`/${command.kind} works in a room (--room or --new-room)`, 'yellow']));
    else if (command.kind !== 'leave' && command.kind !== 'edit' && command.kind !== 'delete')
      this.acks.push(runMembershipCommand(this.chat, conversationId, command, this.screen));
    else if (command.kind === 'leave') this.acks.push(this.leave());
    else {
      const done =
        command.kind === 'edit'
          ? this.chat.edit(conversationId, command.seq, command.body)
          : this.chat.delete(conversationId, command.seq);
      const what = command.kind === 'edit' ? 'edit' : 'delete';
      this.acks.push(
        done.then(
          (ack) => {
            // Its push is shown as for anyone's edit; a message not on screen is confirmed here.
            if (!this.shownSeqs.has(ack.seq))
              this.screen.show(
                line(['✓', 'green'], ` ${what === 'edit' ? 'edited' : 'deleted'} #${ack.seq}`),
              );
          },
          (error: unknown) =>
            this.screen.note(line([`✗ could not ${what} #${command.seq}: ${errorText(error, what)}`, 'red'])),
        ),
      );
    }
  }

  /**
   * Sends a file with `caption` (default: the file's name) through the outbox, in its place among the
   * lines typed: the SDK uploads it, then sends it, and later lines wait behind it. The file is read at
   * once (so the order is the typing order); one that cannot be read or is refused is said why.
   */
  private attach(file: string, caption: string | undefined): void {
    const contentType = contentTypeOf(file);
    const name = path.basename(file);
    const refused = (reason: string) =>
      this.screen.note(line([`✗ could not attach ${printable(name)}: ${reason}`, 'red']));
    if (contentType === undefined) {
      refused('only .png .jpg .jpeg .gif .webp .pdf files can be attached.');
      return;
    }
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (error: unknown) {
      refused(errorText(error, 'attach'));
      return;
    }
    if (data.byteLength > LIMITS.maxAttachmentBytes) {
      refused(errorWords('payload_too_large', 'attach'));
      return;
    }
    const sending = this.chat.send(this.stream.conversationId, caption ?? name, {
      file: { data, contentType, name },
    });
    this.acks.push(this.sent(sending));
  }

  /** Leaves once every line typed before `/leave` is sent (or refused), so none is lost to the leave. */
  private async leave(): Promise<void> {
    this.stop('you are leaving this conversation');
    await Promise.allSettled([...this.acks]);
    try {
      await this.chat.leave(this.stream.conversationId);
      this.ended({ kind: 'left' });
    } catch (error: unknown) {
      this.stopped = undefined;
      this.screen.note(line([`✗ could not leave: ${errorText(error, 'leave')}`, 'red']));
    }
  }

  /** Takes no more lines: each is noted as not sent, with `reason`. */
  stop(reason: string): void {
    this.stopped = reason;
  }

  /**
   * Marks every own message still pending as not sent, with `reason`: the session is ending without
   * them (their text stays on screen, to copy).
   */
  abandon(reason = NOT_IN_CONVERSATION): void {
    for (const [, own] of this.own) if (own.state === 'pending') this.markFailed(own, reason);
  }

  counts(): { sent: number; failed: number; pending: number } {
    const states = [...this.own.values()].map((m) => m.state);
    const count = (state: OwnMessage['state']) => states.filter((s) => s === state).length;
    return { sent: count('sent'), failed: count('failed'), pending: count('pending') };
  }

  /** Resolves when every message sent so far is acked or failed, or after `ms`. */
  async settled(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.acks),
      new Promise((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
    clearTimeout(timer);
  }

  /** An edit or delete of a message on screen, as a line of its own. */
  private updated(u: MessageUpdate): void {
    if (!this.shownSeqs.has(u.seq)) return;
    this.screen.show(
      u.deleted
        ? line(['✗', 'red'], ` deleted #${u.seq}`)
        : line(['✎', 'cyan'], ` edited #${u.seq}: ${printable(u.body)}`),
    );
  }

  /**
   * Tracks one own send. Sending implies having read what came before, as in every chat app: once no
   * own send is left in flight, the read cursor moves to the newest one acked, so a user's own messages
   * never count as unread to them, even when they quit before their pushes come back. Resolves after
   * that move, so a quit that waits for the acks waits for it too; never rejects (the outbox event
   * shows a failed send).
   */
  private async sent(acked: Promise<SendAck>): Promise<void> {
    this.sendsInFlight += 1;
    try {
      const ack = await acked;
      this.newestOwnSeq = Math.max(this.newestOwnSeq, ack.seq);
    } catch {
      // Shown by its outbox event.
    } finally {
      this.sendsInFlight -= 1;
      if (this.sendsInFlight === 0 && this.newestOwnSeq > this.readSeq) {
        this.readSeq = this.newestOwnSeq;
        await this.chat.markRead(this.stream.conversationId, this.readSeq).catch(() => undefined);
      }
    }
  }

  /** Moves the read cursor to the last message delivered (once per burst of messages). */
  private markRead(): void {
    const seq = this.stream.lastSeq ?? 0;
    if (seq <= this.readSeq) return;
    this.readSeq = seq;
    queueMicrotask(() => {
      const latest = this.stream.lastSeq ?? 0;
      this.chat.markRead(this.stream.conversationId, latest).catch(() => undefined);
    });
  }

  /** A live membership change, after the history. */
  private membershipChanged(event: MembershipEvent): void {
    if (this.held) this.held.push(event);
    else this.showMembership(event);
    if (this.me === undefined || !event.userIds.includes(this.me)) return;
    if (event.kind === 'member_left') this.ended({ kind: 'left' });
    else if (event.kind === 'member_removed') this.ended({ kind: 'removed', by: event.by });
  }

  private showMembership(event: MembershipEvent): void {
    this.screen.show(line([clock(event.at), 'dim'], '  ', [membershipText(event), 'dim']));
  }

  private received(m: ChatMessage): void {
    if (this.held) {
      this.held.push(m);
      return;
    }
    this.shownSeqs.add(m.seq);
    this.markRead();
    if (this.ownSeqs.has(m.seq)) return;
    if (m.senderId === this.me) {
      // Its push may come before its ack. The outbox sends one message of a conversation at a time,
      // so only the oldest pending one can be stored yet.
      const sending = [...this.own.values()].find((o) => o.state === 'pending');
      if (sending !== undefined && sending.early === undefined && sending.body === m.body) {
        sending.early = m;
        return;
      }
    }
    this.screen.show(messageLine(m, m.senderId === this.me));
    this.showAttachment(m);
  }

  private showAttachment(m: Pick<ChatMessage, 'attachment'>): void {
    if (m.attachment) this.screen.show(line(['   ', 'dim'], [attachmentText(m.attachment), 'dim']));
  }

  private outbox(event: OutboxEvent): void {
    const { entry } = event;
    const known = this.own.get(entry.clientMessageId);
    if (event.status === 'pending') {
      const shown =
        known?.shown ??
        this.screen.show(
          messageLine(
            { sentAt: new Date(entry.createdAt).toISOString(), senderId: this.me ?? 'you', body: entry.body },
            true,
            ['…', 'dim'],
          ),
        );
      this.own.set(entry.clientMessageId, {
        body: entry.body,
        createdAt: entry.createdAt,
        shown,
        state: 'pending',
      });
      if (known === undefined && entry.attachment) this.showAttachment(entry);
      else if (known === undefined && entry.file) {
        const { contentType, size, name } = entry.file;
        const what = `${name === undefined ? '' : `${printable(name)} `}(${contentType}, ${size} B)`;
        this.screen.show(line(['   ', 'dim'], [`📎 ${what}: uploading…`, 'dim']));
      }
      return;
    }
    if (known === undefined) return;
    const sender = this.me ?? 'you';
    if (event.status === 'sent') {
      known.state = 'sent';
      this.ownSeqs.add(event.ack.seq);
      this.shownSeqs.add(event.ack.seq);
      this.screen.replace(
        known.shown,
        messageLine({ sentAt: event.ack.sentAt, senderId: sender, body: entry.body }, true, [
          `✓ #${event.ack.seq}`,
          'green',
        ]),
        line(['✓', 'green'], ` sent (#${event.ack.seq}): ${preview(entry.body)}`),
      );
      // A file uploaded here: its key is known now.
      if (entry.file) this.showAttachment(entry);
    } else this.markFailed(known, errorText(event.error, entry.file || entry.attachment ? 'attach' : 'send'));
    // What matched this message's body before the ack was another message of the same user.
    if (known.early !== undefined && (event.status === 'failed' || known.early.seq !== event.ack.seq))
      this.screen.show(messageLine(known.early, true));
    known.early = undefined;
  }

  private markFailed(own: OwnMessage, reason: string): void {
    own.state = 'failed';
    const sender = this.me ?? 'you';
    this.screen.replace(
      own.shown,
      messageLine({ sentAt: new Date(own.createdAt).toISOString(), senderId: sender, body: own.body }, true, [
        `✗ not sent: ${reason}`,
        'red',
      ]),
      line(['✗', 'red'], ` not sent (${reason.replace(/\.$/, '')}): ${preview(own.body)}`),
    );
  }
}
