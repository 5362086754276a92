import {
  type Attachment,
  type AttachmentContentType,
  type ChatMessage,
  type ChatRequestError,
  type ConversationStream,
  describeMembership,
  type MembershipEvent,
  type MessageUpdate,
  type OutboxEntry,
  type OutboxEvent,
} from '../../client';
import { conversationLabel } from '../conversations';
import { h } from '../dom';
import { describeError, formatTime } from '../format';
import type { Session } from '../session';
import { ui } from '../ui';
import { MembersPanel, showMembersPanel } from './members';
import { PresenceLine } from './presence';
import { TypingLine } from './typing';

/** Messages read per "load older" (and when a conversation opens). */
const PAGE_SIZE = 50;

/** What the server accepts as an attachment (shared/attachments.ts), without bundling its schemas. */
const ATTACHMENT_TYPES: readonly AttachmentContentType[] = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
];

const formatSize = (bytes: number): string =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(1)} KB`
      : `${(bytes / 1048576).toFixed(1)} MB`;

/** One open conversation: its stream rendered in seq order, and its outbox entries below. */
export class ConversationView {
  private readonly stream: ConversationStream;
  private readonly rows = new Map<number, HTMLLIElement>();
  private readonly outboxRows = new Map<string, HTMLLIElement>();
  private readonly typing = new TypingLine();
  private readonly presence: PresenceLine;
  /**
   * How far each other member has read, from the `presence` answer on opening (small groups) and from
   * `read` pushes after it: your messages up to it are "seen" by them.
   */
  private readonly seen: Map<string, number>;
  private readonly members: MembersPanel;
  /** The read cursor this page last sent. */
  private readSeq = 0;
  private readScheduled = false;
  private closed = false;

  constructor(
    private readonly session: Session,
    readonly conversationId: string,
  ) {
    this.presence = new PresenceLine(session.userId);
    this.seen = session.receipts(conversationId);
    this.members = new MembersPanel(session.chat, session.directory, session.userId, conversationId);
    showMembersPanel(false);
    this.renderHeader();
    this.members.render();
    ui.conversationError.textContent = '';
    ui.messages.replaceChildren();
    ui.outbox.replaceChildren();
    ui.loadOlder.hidden = true;
    this.presence.clear();
    this.composer(true);
    ui.noConversation.hidden = true;
    ui.conversationPane.hidden = false;

    for (const entry of session.chat.outbox(conversationId)) this.showOutboxEntry(entry);
    this.stream = session.chat.conversation(conversationId);
    this.stream.on('message', (message) => {
      this.showMessage(message);
      this.typing.stop(message.senderId);
      this.scheduleRead();
    });
    this.stream.on('update', (update) => this.showUpdate(update));
    this.stream.on('typing', ({ userId }) => this.typing.show(userId));
    this.stream.on('read', ({ userId, seq }) => this.readBy(userId, seq));
    this.stream.on('membership', (event) => {
      this.showMembership(event);
      this.membershipChanged(event);
    });
    this.stream.on('error', (err) => this.refused(err));
    this.stream.ready.then(
      () => {
        if (this.closed) return;
        session.opened(conversationId);
        this.scheduleRead();
        void this.loadOlder();
        session.chat.request('presence', { conversationId }).then(
          ({ online, readSeqs }) => {
            if (this.closed) return;
            for (const userId of online) this.presence.set(userId, true);
            if (readSeqs) {
              this.members.listed(readSeqs.map((m) => m.userId));
              for (const { userId, readSeq } of readSeqs) this.readBy(userId, readSeq);
            }
            this.renderHeader();
          },
          () => undefined, // the dots stay grey; presence events still update them
        );
      },
      () => undefined, // the error event says why
    );
  }

  close(): void {
    this.closed = true;
    this.members.close();
    this.stream.close();
    this.typing.clear();
  }

  /**
   * This user is no longer a member (removed, or left, maybe in another tab): the transcript stays on
   * screen with the line that says so, and nothing more can be done here.
   */
  ended(event: MembershipEvent): void {
    this.showMembership(event);
    ui.conversationError.textContent =
      event.kind === 'member_left'
        ? 'You left this conversation.'
        : `${event.by} removed you from this conversation.`;
    this.composer(false);
    ui.loadOlder.hidden = true;
    ui.membersToggle.hidden = true;
    ui.leave.hidden = true;
    showMembersPanel(false);
    this.presence.clear();
    this.close();
  }

  /** Title and members as far as the directory knows them (a conversation opened by id may have neither yet). */
  renderHeader(): void {
    const known = this.session.directory.get(this.conversationId);
    ui.conversationTitle.textContent = known ? conversationLabel(known, this.session.userId) : 'Conversation';
    const members = this.members.list;
    ui.conversationMembers.textContent = members ? `${members.join(', ')} · ` : '';
    ui.conversationId.textContent = this.conversationId;
    // A direct conversation has exactly its two members: nobody is added, removed, or leaves.
    ui.membersToggle.hidden = known?.direct === true;
    ui.leave.hidden = known?.direct === true;
    if (known?.direct) showMembersPanel(false);
    this.presence.render(members);
  }

  /** Adds members to this conversation; false when the server refused. */
  addMembers(userIds: string[]): Promise<boolean> {
    return this.members.add(userIds);
  }

  /** A presence event: only users this conversation shows (members, or seen online here) matter. */
  presenceChanged(userId: string, online: boolean): void {
    this.presence.set(userId, online);
    this.presence.render(this.members.list);
  }

  /** The user typed in the composer: the SDK sends `typing` at most once per 3 s. */
  typed(): void {
    if (!this.closed) void this.session.chat.typing(this.conversationId);
  }

  /** Moves the read cursor to the last message shown, when the page is visible (once per burst of messages). */
  scheduleRead(): void {
    if (this.readScheduled) return;
    this.readScheduled = true;
    queueMicrotask(() => {
      this.readScheduled = false;
      const seq = this.stream.lastSeq ?? 0;
      if (this.closed || document.visibilityState !== 'visible' || seq <= this.readSeq) return;
      this.readSeq = seq;
      this.session.chat.markRead(this.conversationId, seq).catch(() => undefined);
      this.session.directory.markRead(this.conversationId, seq);
      this.session.renderList();
    });
  }

  /** Reads the page before the oldest message shown, keeping what is on screen where it is. */
  async loadOlder(): Promise<void> {
    ui.loadOlder.disabled = true;
    try {
      const fromBottom = ui.scroller.scrollHeight - ui.scroller.scrollTop;
      const page = await this.stream.loadOlder(PAGE_SIZE);
      if (this.closed) return;
      for (const message of page.messages) this.showMessage(message, { scroll: false });
      for (const change of page.membership) this.showMembership(change, { scroll: false });
      for (const entry of page.deleted) {
        const { conversationId, seq, senderId, deletedAt, version } = entry;
        this.showMessage({ conversationId, seq, senderId, body: '', sentAt: deletedAt }, { scroll: false });
        this.showUpdate({ conversationId, seq, version, body: '', deleted: true, deletedAt });
      }
      ui.scroller.scrollTop = ui.scroller.scrollHeight - fromBottom;
      ui.loadOlder.hidden = !page.hasMore;
    } catch (err: unknown) {
      if (!this.closed)
        ui.conversationError.textContent = `Could not read older messages: ${describeError(err)}`;
    } finally {
      ui.loadOlder.disabled = false;
    }
  }

  send(body: string): void {
    this.session.chat.send(this.conversationId, body);
    this.session.opened(this.conversationId);
  }

  /** Uploads a file straight to the bucket, then sends a message that carries it. */
  async attach(file: File): Promise<void> {
    const type = file.type as AttachmentContentType;
    if (!ATTACHMENT_TYPES.includes(type)) {
      ui.conversationError.textContent = `Cannot attach ${file.type || 'this file'}: images and PDF only`;
      return;
    }
    ui.conversationError.textContent = `Uploading ${file.name}…`;
    try {
      await this.session.chat.attach(this.conversationId, file, type, file.name || type);
      if (!this.closed) ui.conversationError.textContent = '';
      this.session.opened(this.conversationId);
    } catch (err: unknown) {
      if (!this.closed) ui.conversationError.textContent = `Could not attach: ${describeError(err)}`;
    }
  }

  /** A membership change as a line of the transcript at its seq: "alice added dave", "bob left". */
  private showMembership(event: MembershipEvent, { scroll = true } = {}): void {
    const me = this.session.userId;
    const text = describeMembership(event, (userId) => (userId === me ? 'you' : userId));
    const row = h(
      'li',
      { class: 'system', 'data-seq': String(event.seq), 'data-kind': event.kind },
      h('span', { class: 'body', dir: 'auto' }, text),
      ' ',
      h('time', { datetime: event.at, title: event.at }, formatTime(event.at)),
    );
    const stick = this.atBottom();
    const existing = this.rows.get(event.seq);
    if (existing) existing.replaceWith(row);
    else ui.messages.insertBefore(row, this.rowAfter(event.seq));
    this.rows.set(event.seq, row);
    if (scroll && stick) this.scrollToBottom();
  }

  /** A live membership change: the member list and presence dots follow it. */
  private membershipChanged(event: MembershipEvent): void {
    if (event.kind !== 'member_added') for (const userId of event.userIds) this.presence.set(userId, false);
    this.members.changed(event);
    this.renderHeader();
  }

  /** A `read` push: `userId` has read up to `seq`, so your messages up to there are seen by them. */
  private readBy(userId: string, seq: number): void {
    if (userId === this.session.userId || seq <= (this.seen.get(userId) ?? 0)) return;
    this.seen.set(userId, seq);
    for (const [rowSeq, row] of this.rows) if (rowSeq <= seq) this.renderSeen(row, rowSeq);
  }

  private renderSeen(row: HTMLLIElement, seq: number): void {
    const mark = row.querySelector('.seen');
    if (mark === null) return; // not yours, or deleted
    const by = [...this.seen].filter(([, upTo]) => upTo >= seq).map(([userId]) => userId);
    mark.textContent = by.length === 0 ? '' : ` · seen by ${by.join(', ')}`;
  }

  /** The file a message carries: an image shown inline, anything else a download link (URLs are asked for now). */
  private attachmentView(attachment: Attachment): HTMLElement {
    const label = `${attachment.contentType}, ${formatSize(attachment.size)}`;
    const image = attachment.contentType.startsWith('image/');
    const element = image
      ? h('img', { class: 'attachment-image', alt: `image (${label})`, 'data-key': attachment.key })
      : h(
          'a',
          { class: 'attachment-link', 'data-key': attachment.key, rel: 'noopener' },
          `Download (${label})`,
        );
    const container = h('div', { class: 'attachment' }, element);
    this.session.chat.downloadUrl(this.conversationId, attachment.key).then(
      ({ url }) => {
        if (element instanceof HTMLImageElement) {
          const stick = this.atBottom();
          element.addEventListener('load', () => stick && this.scrollToBottom(), { once: true });
          element.src = url;
        } else {
          element.setAttribute('href', url);
          element.setAttribute('download', '');
        }
      },
      (err: unknown) =>
        container.append(h('span', { class: 'error' }, ` unavailable: ${describeError(err)}`)),
    );
    return container;
  }

  onOutbox(event: OutboxEvent): void {
    if (event.entry.conversationId !== this.conversationId || this.closed) return;
    if (event.status === 'sent') {
      this.outboxRows.get(event.entry.clientMessageId)?.remove();
      this.outboxRows.delete(event.entry.clientMessageId);
      const { conversationId, seq, sentAt } = event.ack;
      this.showMessage({
        conversationId,
        seq,
        sentAt,
        senderId: this.session.userId,
        body: event.entry.body,
        ...(event.entry.attachment ? { attachment: event.entry.attachment } : {}),
      });
    } else this.showOutboxEntry(event.entry);
  }

  /** Shows a stored message at its seq; the same seq twice (the ack, then the push) replaces the row. */
  private showMessage(message: ChatMessage, { scroll = true } = {}): void {
    const mine = message.senderId === this.session.userId;
    const row = h(
      'li',
      {
        class: mine ? 'message mine' : 'message',
        'data-seq': String(message.seq),
        'data-sender': message.senderId,
        'data-status': mine ? 'sent' : undefined,
      },
      h(
        'div',
        { class: 'meta' },
        h('span', { class: 'sender', dir: 'auto' }, mine ? 'you' : message.senderId),
        h('time', { datetime: message.sentAt, title: message.sentAt }, formatTime(message.sentAt)),
        message.editedAt ? this.editedMark(message.editedAt) : null,
      ),
      h('div', { class: 'body', dir: 'auto' }, message.body),
      message.attachment ? this.attachmentView(message.attachment) : null,
      mine
        ? h(
            'div',
            { class: 'state' },
            'sent ✓',
            h('span', { class: 'seen' }),
            h(
              'span',
              { class: 'tools' },
              this.action('Edit', () => this.edit(message.seq)),
              this.action('Delete', () => this.remove(message.seq)),
            ),
          )
        : null,
    );
    if (message.editedAt) row.dataset.edited = 'true';
    const stick = this.atBottom();
    const existing = this.rows.get(message.seq);
    if (existing) existing.replaceWith(row);
    else ui.messages.insertBefore(row, this.rowAfter(message.seq));
    this.rows.set(message.seq, row);
    if (mine) this.renderSeen(row, message.seq);
    if (scroll && (stick || mine)) this.scrollToBottom();
  }

  /** A newer version of a message on screen: its new body and an "edited" mark, or a deleted mark. */
  private showUpdate(update: MessageUpdate): void {
    const row = this.rows.get(update.seq);
    if (row === undefined || row.dataset.deleted === 'true') return;
    const body = row.querySelector('.body');
    if (update.deleted) {
      row.dataset.deleted = 'true';
      delete row.dataset.edited;
      row.querySelector('.edited')?.remove();
      row.querySelector('.state')?.remove();
      if (body) body.textContent = 'message deleted';
      return;
    }
    row.dataset.edited = 'true';
    if (body) body.textContent = update.body;
    if (!row.querySelector('.edited'))
      row.querySelector('.meta')?.append(this.editedMark(update.editedAt ?? new Date().toISOString()));
  }

  private editedMark(editedAt: string): HTMLSpanElement {
    return h('span', { class: 'edited', title: `edited ${editedAt}` }, 'edited');
  }

  private edit(seq: number): void {
    const current = this.rows.get(seq)?.querySelector('.body')?.textContent ?? '';
    const body = window.prompt('Edit your message', current);
    if (body === null || body.trim() === '' || body === current) return;
    this.session.chat.edit(this.conversationId, seq, body).then(
      (ack) => this.showUpdate({ ...ack, body, deleted: false }),
      (err: unknown) => {
        ui.conversationError.textContent = `Could not edit: ${describeError(err)}`;
      },
    );
  }

  private remove(seq: number): void {
    if (!window.confirm('Delete this message for everyone?')) return;
    this.session.chat.delete(this.conversationId, seq).then(
      (ack) => this.showUpdate({ ...ack, body: '', deleted: true }),
      (err: unknown) => {
        ui.conversationError.textContent = `Could not delete: ${describeError(err)}`;
      },
    );
  }

  private showOutboxEntry(entry: OutboxEntry): void {
    const id = entry.clientMessageId;
    const failed = entry.status === 'failed';
    const row = h(
      'li',
      { class: 'message mine', 'data-client-message-id': id, 'data-status': entry.status },
      h(
        'div',
        { class: 'meta' },
        h('span', { class: 'sender' }, 'you'),
        h('time', { datetime: new Date(entry.createdAt).toISOString() }, formatTime(entry.createdAt)),
      ),
      h('div', { class: 'body', dir: 'auto' }, entry.body),
      failed
        ? h(
            'div',
            { class: 'state' },
            `failed: ${entry.error?.message ?? 'refused'} `,
            this.action('Retry', () => void this.session.chat.retry(id).catch(() => undefined)),
            this.action('Discard', () => {
              this.session.chat.discard(id);
              this.outboxRows.get(id)?.remove();
              this.outboxRows.delete(id);
              this.session.renderList();
            }),
          )
        : h('div', { class: 'state' }, 'pending…'),
    );
    const existing = this.outboxRows.get(id);
    if (existing) existing.replaceWith(row);
    else ui.outbox.append(row);
    this.outboxRows.set(id, row);
    this.scrollToBottom();
  }

  private action(label: string, onClick: () => void): HTMLButtonElement {
    const button = h('button', { type: 'button', class: 'link' }, label);
    button.addEventListener('click', onClick);
    return button;
  }

  /** The first row with a higher seq (rows are kept in seq order; new ones usually go last). */
  private rowAfter(seq: number): HTMLLIElement | null {
    let after: HTMLLIElement | null = null;
    for (let row = ui.messages.lastElementChild; row instanceof HTMLLIElement; ) {
      if (Number(row.dataset.seq) < seq) break;
      after = row;
      row = row.previousElementSibling;
    }
    return after;
  }

  private refused(err: ChatRequestError): void {
    ui.conversationError.textContent = `This conversation cannot be opened: ${describeError(err)}`;
    this.composer(false);
  }

  private composer(enabled: boolean): void {
    ui.messageInput.disabled = !enabled;
    ui.sendButton.disabled = !enabled;
  }

  private atBottom(): boolean {
    return ui.scroller.scrollHeight - ui.scroller.scrollTop - ui.scroller.clientHeight < 48;
  }

  private scrollToBottom(): void {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
  }
}
