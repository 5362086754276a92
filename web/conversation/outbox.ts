import type { ChatClient, OutboxEntry } from '../../client';
import { actionButton, h } from '../dom';
import { formatSize, formatTime } from '../format';
import { ui } from '../ui';
import { scrollToBottom } from './messages';

/** The open conversation's outbox under its transcript: pending messages, and failed ones to retry or discard. */
export class OutboxRows {
  private readonly rows = new Map<string, HTMLLIElement>();

  constructor(
    private readonly chat: ChatClient,
    /** A failed message was discarded: the conversation list counts one unsent message fewer. */
    private readonly discarded: () => void,
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
        : h('div', { class: 'state' }, entry.uploading ? 'uploading…' : 'pending…'),
    );
    const existing = this.rows.get(id);
    if (existing) existing.replaceWith(row);
    else ui.outbox.append(row);
    this.rows.set(id, row);
    scrollToBottom();
  }

  /** Takes an entry's row away: it was sent (the transcript shows it now) or discarded. */
  remove(clientMessageId: string): void {
    this.rows.get(clientMessageId)?.remove();
    this.rows.delete(clientMessageId);
  }
}
