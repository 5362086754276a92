/** Stored entries as the app sees them: messages without storage fields, and the one page shape of scroll-back. */
import type {
  ChatMessage,
  DeletedMessage,
  MembershipEntry,
  MembershipEvent,
  Page,
  StoredEntry,
} from './types';

/**
 * A page of older entries, split by kind: what `history()` and `room.loadOlder()` both resolve. The raw
 * page, tombstones in place, stays reachable with `chat.request('history', …)`.
 */
export interface OlderPage {
  /** Ascending, tombstones left out. */
  messages: ChatMessage[];
  /** The messages of the page that their senders deleted (ascending), to show as deleted if you like. */
  deleted: DeletedMessage[];
  /** The membership changes of the page (ascending), to show in place if you like. */
  membership: MembershipEvent[];
  /** Older entries exist before this page. */
  hasMore: boolean;
}

/** A `history` ack as an {@link OlderPage}. */
export function toOlderPage(page: Pick<Page, 'messages' | 'hasMore'>): OlderPage {
  return {
    messages: page.messages.filter((e): e is ChatMessage => !('tombstone' in e)).map(asShown),
    deleted: page.messages.filter((e): e is DeletedMessage => 'deleted' in e),
    membership: page.messages.filter((e): e is MembershipEntry => 'kind' in e).map(toMembership),
    hasMore: page.hasMore,
  };
}

export const versionOf = (entry: StoredEntry): number => ('version' in entry ? (entry.version ?? 0) : 0);

const asShown = (message: ChatMessage): ChatMessage => toMessage(message, versionOf(message));

/** The message as the app sees it: the stored fields, `editedAt` and `version` only when edited. */
export function toMessage(entry: ChatMessage, version: number): ChatMessage {
  const { conversationId, seq, senderId, body, sentAt, editedAt, attachment } = entry;
  return {
    conversationId,
    seq,
    senderId,
    body,
    sentAt,
    ...(editedAt === undefined ? {} : { editedAt }),
    ...(version > 0 ? { version } : {}),
    ...(attachment === undefined ? {} : { attachment }),
  };
}

export function toMembership(entry: MembershipEntry): MembershipEvent {
  const { conversationId, seq, kind, userIds, by, at } = entry;
  return { conversationId, seq, kind, userIds, by, at };
}
