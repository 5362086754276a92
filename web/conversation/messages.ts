import {
  type Attachment,
  type ChatClient,
  type ChatMessage,
  describeMembership,
  type MembershipEvent,
  type MessageUpdate,
} from '../../client';
import { actionButton, h } from '../dom';
import { formatSize, formatTime } from '../format';
import { clearErrorLines, inWords } from '../messages-in-words';
import { ui } from '../ui';

/** Whether the transcript is scrolled to (nearly) its end, where new rows keep it. */
function atBottom(): boolean {
  return ui.scroller.scrollHeight - ui.scroller.scrollTop - ui.scroller.clientHeight < 48;
}

/** Scrolls the transcript (and the outbox under it) to its end. */
export function scrollToBottom(): void {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
}

/**
 * The open conversation's transcript: its messages and membership lines in seq order, each message
 * with its edits, deletion, attachment and (yours) who has seen it.
 */
export class Transcript {
  private readonly rows = new Map<number, HTMLLIElement>();
  /** Others' messages that arrived below the view while the reader was scrolled up. */
  private unseen = 0;

  constructor(
    private readonly chat: ChatClient,
    private readonly me: string,
    private readonly conversationId: string,
    /** Who has read `seq`, as the SDK keeps the read cursors (`room.seenBy`). */
    private readonly seenBy: (seq: number) => string[],
  ) {
    ui.messages.replaceChildren();
    this.markUnseen(0);
    ui.scroller.onscroll = () => {
      if (this.unseen > 0 && atBottom()) this.markUnseen(0);
    };
    ui.newMessages.onclick = () => {
      scrollToBottom();
      this.markUnseen(0);
    };
  }

  /** The "N new messages ↓" marker: shown while others' new messages wait below a reader scrolled up. */
  private markUnseen(count: number): void {
    this.unseen = count;
    ui.newMessages.hidden = count === 0;
    ui.newMessages.textContent = `${count} new ${count === 1 ? 'message' : 'messages'} ↓`;
  }

  /** Shows a stored message at its seq; the same seq twice (the ack, then the push) replaces the row. */
  showMessage(message: ChatMessage, { scroll = true } = {}): void {
    const mine = message.senderId === this.me;
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
              actionButton('Edit', () => this.edit(message.seq)),
              actionButton('Delete', () => this.remove(message.seq)),
            ),
          )
        : null,
    );
    if (message.editedAt) row.dataset.edited = 'true';
    const stick = atBottom();
    const existing = this.rows.get(message.seq);
    if (existing) existing.replaceWith(row);
    else ui.messages.insertBefore(row, this.rowAfter(message.seq));
    this.rows.set(message.seq, row);
    if (mine) this.renderSeen(row, message.seq);
    if (scroll && (stick || mine)) scrollToBottom();
    else if (scroll && existing === undefined) this.markUnseen(this.unseen + 1);
  }

  /** A newer version of a message on screen: its new body and an "edited" mark, or a deleted mark. */
  showUpdate(update: MessageUpdate): void {
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
    this.chat.edit(this.conversationId, seq, body).then(
      (ack) => {
        clearErrorLines();
        this.showUpdate({ ...ack, body, deleted: false });
      },
      (err: unknown) => {
        ui.conversationError.textContent = inWords(err, 'edit');
      },
    );
  }

  private remove(seq: number): void {
    if (!window.confirm('Delete this message for everyone?')) return;
    this.chat.delete(this.conversationId, seq).then(
      (ack) => {
        clearErrorLines();
        this.showUpdate({ ...ack, body: '', deleted: true });
      },
      (err: unknown) => {
        ui.conversationError.textContent = inWords(err, 'delete');
      },
    );
  }

  /** A membership change as a line of the transcript at its seq: "alice added dave", "bob left". */
  showMembership(event: MembershipEvent, { scroll = true } = {}): void {
    const text = describeMembership(event, (userId) => (userId === this.me ? 'you' : userId));
    const row = h(
      'li',
      { class: 'system', 'data-seq': String(event.seq), 'data-kind': event.kind },
      h('span', { class: 'body', dir: 'auto' }, text),
      ' ',
      h('time', { datetime: event.at, title: event.at }, formatTime(event.at)),
    );
    const stick = atBottom();
    const existing = this.rows.get(event.seq);
    if (existing) existing.replaceWith(row);
    else ui.messages.insertBefore(row, this.rowAfter(event.seq));
    this.rows.set(event.seq, row);
    if (scroll && stick) scrollToBottom();
  }

  /** The read cursors changed: each of your messages says again who has seen it. */
  receiptsChanged(): void {
    for (const [seq, row] of this.rows) this.renderSeen(row, seq);
  }

  private renderSeen(row: HTMLLIElement, seq: number): void {
    const mark = row.querySelector('.seen');
    if (mark === null) return; // not yours, or deleted
    const by = this.seenBy(seq).filter((userId) => userId !== this.me);
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
    this.chat.downloadUrl(this.conversationId, attachment.key).then(
      ({ url }) => {
        if (element instanceof HTMLImageElement) {
          const stick = atBottom();
          element.addEventListener('load', () => stick && scrollToBottom(), { once: true });
          element.src = url;
        } else {
          element.setAttribute('href', url);
          element.setAttribute('download', '');
        }
      },
      (err: unknown) => container.append(h('span', { class: 'error' }, ` ${inWords(err, 'download')}`)),
    );
    return container;
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
}
