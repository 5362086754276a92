/** One conversation on screen, and the user's lines turned into sends, edits, deletes, uploads, leaving. */
import { readFile } from 'node:fs/promises';
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
import { LIMITS } from '../../shared/limits';
import { parseInput } from './args';
import {
  activityText,
  attachmentText,
  clock,
  errorText,
  line,
  membershipText,
  messageLine,
  presenceText,
  preview,
  printable,
} from './format';
import { runMembershipCommand, showInvitations } from './membership-commands';
import type { Screen, Shown } from './screen';
import { contentTypeOf } from './upload';

/** How long "bob is typing…" counts as one burst (the server sends one per 3 s at most). */
const TYPING_SHOWN_MS = 4_000;

/** A message this client sent, from `pending` to `sent` or `failed`. */
interface OwnMessage {
  body: string;
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
  /** Who is typing, until when (ms): "bob is typing…" is noted once per burst. */
  private readonly typing = new Map<string, number>();
  private readSeq = 0;
  /** Own sends not yet acked or failed, and the newest seq acked: see sent(). */
  private sendsInFlight = 0;
  private newestOwnSeq = 0;
  /** Live messages and membership changes that came while the history was read; shown after it. */
  private held: Array<ChatMessage | MembershipEvent> | undefined = [];
  /** `activity` heard per other conversation, for "[id] 2 new from bob". */
  private readonly elsewhere = new Map<string, number>();
  private readonly acks: Promise<unknown>[] = [];

  constructor(
    private readonly chat: ChatClient,
    private readonly stream: ConversationStream,
    private readonly screen: Screen,
    private readonly me: string | undefined,
  ) {
    stream.on('message', (m) => this.received(m));
    stream.on('membership', (event) => this.membershipChanged(event));
    stream.on('update', (u) => this.updated(u));
    chat.on('activity', (activity) => {
      if (activity.conversationId === stream.conversationId) return;
      const count = (this.elsewhere.get(activity.conversationId) ?? 0) + 1;
      this.elsewhere.set(activity.conversationId, count);
      screen.note(line([activityText(activity, count), 'dim']));
    });
    // A change elsewhere that names this user: added to a conversation, removed, or left from another terminal.
    chat.on('membership', (event) => {
      if (event.conversationId === stream.conversationId || me === undefined || !event.userIds.includes(me))
        return;
      screen.note(line([`[${printable(event.conversationId)}] ${membershipText(event)}`, 'dim']));
    });
    showInvitations(chat, screen);
    chat.on('presence', ({ userId, online }) => {
      if (userId !== me) screen.note(line([presenceText(userId, online), 'dim']));
    });
    stream.on('typing', ({ userId }) => {
      const now = Date.now();
      if ((this.typing.get(userId) ?? 0) < now) screen.note(line([`${printable(userId)} is typing…`, 'dim']));
      this.typing.set(userId, now + TYPING_SHOWN_MS);
    });
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
      this.screen.show(line([`── ${history.length} earlier messages${older} ──`, 'dim']));
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
    const command = parseInput(text);
    const { conversationId } = this.stream;
    if (command.kind === 'send') {
      if (command.body.trim() !== '')
        this.acks.push(this.sent(this.chat.send(conversationId, command.body).acked));
    } else if (command.kind === 'invalid') this.screen.note(line([command.message, 'yellow']));
    else if (command.kind === 'attach') this.acks.push(this.attach(command.path, command.caption));
    else if (command.kind !== 'leave' && command.kind !== 'edit' && command.kind !== 'delete')
      this.acks.push(runMembershipCommand(this.chat, conversationId, command, this.screen));
    else if (command.kind === 'leave')
      this.acks.push(
        this.chat.leave(conversationId).then(
          () => this.screen.show(line(['✓', 'green'], ' you left the conversation (Ctrl-D quits)')),
          (error: unknown) => this.screen.note(line([`✗ could not leave: ${errorText(error)}`, 'red'])),
        ),
      );
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
            this.screen.note(line([`✗ could not ${what} #${command.seq}: ${errorText(error)}`, 'red'])),
        ),
      );
    }
  }

  /**
   * Uploads a file and sends it with `caption` (default: the file's name). Resolves once the message
   * is acked or failed, or at once when the file cannot be read or the upload is refused (said why).
   */
  private async attach(file: string, caption: string | undefined): Promise<void> {
    const contentType = contentTypeOf(file);
    const name = path.basename(file);
    if (contentType === undefined) {
      this.screen.note(
        line([`✗ cannot attach ${printable(name)}: only .png .jpg .jpeg .gif .webp .pdf`, 'red']),
      );
      return;
    }
    try {
      const bytes = await readFile(file);
      this.screen.note(
        line([`Uploading ${printable(name)} (${contentType}, ${bytes.byteLength} B)…`, 'dim']),
      );
      const { acked } = await this.chat.attach(
        this.stream.conversationId,
        bytes,
        contentType,
        caption ?? name,
      );
      await this.sent(acked);
    } catch (error: unknown) {
      this.screen.note(line([`✗ could not attach ${printable(name)}: ${errorText(error)}`, 'red']));
    }
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
    this.typing.delete(m.senderId);
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
      this.own.set(entry.clientMessageId, { body: entry.body, shown, state: 'pending' });
      if (known === undefined && entry.attachment) this.showAttachment(entry);
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
    } else {
      known.state = 'failed';
      const reason = errorText(event.error);
      this.screen.replace(
        known.shown,
        messageLine(
          { sentAt: new Date(entry.createdAt).toISOString(), senderId: sender, body: entry.body },
          true,
          [`✗ not sent: ${reason}`, 'red'],
        ),
        line(['✗', 'red'], ` not sent (${reason}): ${preview(entry.body)}`),
      );
    }
    // What matched this message's body before the ack was another message of the same user.
    if (known.early !== undefined && (event.status === 'failed' || known.early.seq !== event.ack.seq))
      this.screen.show(messageLine(known.early, true));
    known.early = undefined;
  }
}
