import type { ChatClient, MessageUpdate, OutboxEntry } from '../../client';
import { actionButton, h } from '../dom';
import { formatSize, formatTime } from '../format';
import { clearErrorLines, inWords } from '../messages-in-words';
import { ui } from '../ui';
import { scrollToBottom } from './messages';

/**
 * The open conversation's outbox under its transcript: pending messages, and failed ones to retry or
 * discard. Each can be edited or deleted before it is sent (by clientMessageId: the SDK changes it in the
 * outbox, or right after its ack when it is already on the wire).
 */
export class OutboxRows {
  private readonly rows = new Map<string, HTMLLIElement>();

  constructor(
    private readonly chat: ChatClient,
    private readonly conversationId: string,
    /** A message was discarded or deleted unsent: the conversation list counts one unsent message fewer. */
    private readonly discarded: () => void,
    /** An edit or delete reached a message that was sent meanwhile: the transcript shows it. */
    private readonly changedOnServer: (update: MessageUpdate) => void,
  ) {
    ui.outbox.replaceChildren();
  }

  /** Shows an entry as pending or failed; the same entry again replaces its row. */
  show(entry: OutboxEntry): void {
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
      entry.file
        ? h(
            'div',
            { class: 'attachment subtle' },
            `📎 ${entry.file.contentType}, ${formatSize(entry.file.size)}`,
          )
        : null,
      failed
        ? h(
            'div',
            { class: 'state' },
            `failed: ${entry.error?.message ?? 'refused'} `,
            actionButton('Retry', () => void this.chat.retry(id).catch(() => undefined)),
            actionButton('Discard', () => {
              this.chat.discard(id);
              this.remove(id);
              this.discarded();
            }),
          )
        : h('div', { class: 'state' }, entry.uploading ? 'uploading…' : 'pending…', this.tools(entry)),
    );
    const existing = this.rows.get(id);
    if (existing) existing.replaceWith(row);
    else ui.outbox.append(row);
    this.rows.set(id, row);
    scrollToBottom();
  }

  /** Edit and Delete for a message not sent yet. */
  private tools(entry: OutboxEntry): HTMLSpanElement {
    const id = entry.clientMessageId;
    return h(
      'span',
      { class: 'tools' },
      actionButton('Edit', () => {
        const body = window.prompt('Edit your message', entry.body);
        if (body === null || body.trim() === '' || body === entry.body) return;
        this.chat.edit(this.conversationId, id, body).then(
          (answer) => {
            clearErrorLines();
            if ('inOutbox' in answer) {
              const changed = this.chat.outbox(this.conversationId).find((e) => e.clientMessageId === id);
              if (changed) this.show(changed);
            } else this.changedOnServer({ ...answer, body, deleted: false });
          },
          (err: unknown) => {
            ui.conversationError.textContent = inWords(err, 'edit');
          },
        );
      }),
      actionButton('Delete', () => {
        if (!window.confirm('Delete this message before it is sent?')) return;
        this.chat.delete(this.conversationId, id).then(
          (answer) => {
            clearErrorLines();
            if ('inOutbox' in answer) {
              this.remove(id);
              this.discarded();
            } else this.changedOnServer({ ...answer, body: '', deleted: true });
          },
          (err: unknown) => {
            ui.conversationError.textContent = inWords(err, 'delete');
          },
        );
      }),
    );
  }

  /** Takes an entry's row away: it was sent (the transcript shows it now) or discarded. */
  remove(clientMessageId: string): void {
    this.rows.get(clientMessageId)?.remove();
    this.rows.delete(clientMessageId);
  }
}
