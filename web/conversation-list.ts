/**
 * The sidebar's conversation list: each conversation with its title, last activity, preview line,
 * unread count and how many of your messages to it are not sent yet.
 */
import { conversationName, type OutboxEntry } from '../client';
import type { ConversationSummary } from './conversations';
import { h } from './dom';
import { formatTime } from './format';
import { ui } from './ui';

/** What the list shows, as the session knows it. */
export interface ConversationListState {
  /** Most recently active first (ConversationDirectory.all). */
  conversations: readonly ConversationSummary[];
  /** The outbox's entries, pending and failed, of every conversation. */
  outbox: readonly OutboxEntry[];
  me: string;
  /** The open conversation, marked as current. */
  openId: string | undefined;
  /** The server left older conversations out of its list. */
  truncated: boolean;
}

/** Draws the list and the hint under it. */
export function renderConversationList({
  conversations,
  outbox,
  me,
  openId,
  truncated,
}: ConversationListState): void {
  const unsent = new Map<string, number>();
  for (const entry of outbox) unsent.set(entry.conversationId, (unsent.get(entry.conversationId) ?? 0) + 1);
  const items = conversations.map((c) => {
    const count = unsent.get(c.conversationId) ?? 0;
    return h(
      'li',
      {},
      h(
        'button',
        {
          type: 'button',
          class: 'conversation-item',
          'data-conversation-id': c.conversationId,
          'aria-current': c.conversationId === openId ? 'true' : undefined,
          'data-gone': c.gone ? 'true' : undefined,
        },
        h('span', { class: 'title', dir: 'auto' }, conversationName(c, me)),
        c.room
          ? h(
              'span',
              { class: 'room-tag subtle', title: 'A room: an audience anyone can join (or with its link)' },
              c.memberCount === undefined ? 'room' : `room · ${c.memberCount}`,
            )
          : null,
        h(
          'span',
          { class: 'subtle' },
          c.lastActivityAt ? formatTime(c.lastActivityAt) : c.conversationId.slice(0, 8),
        ),
        c.gone
          ? h('span', { class: 'preview subtle' }, 'does not exist or you are not in it')
          : c.preview
            ? h('span', { class: 'preview subtle', dir: 'auto' }, c.preview)
            : null,
        c.unread
          ? h(
              'span',
              { class: 'unread', title: `${c.unread} unread`, 'data-unread': String(c.unread) },
              String(c.unread),
            )
          : null,
        count > 0 ? h('span', { class: 'badge' }, `${count} unsent`) : null,
      ),
    );
  });
  ui.conversationList.replaceChildren(...items);
  ui.conversationListHint.textContent =
    items.length === 0
      ? 'No conversations yet: create one, or open one by id.'
      : truncated
        ? 'Older conversations are left out: open them by id.'
        : '';
}
