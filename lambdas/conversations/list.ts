/** The caller's conversation list: newest activity first, a page at a time, with unread counts and last entries. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  type ConversationListEntry,
  type ConversationListPage,
  type DeletedMessage,
  isTombstone,
  type LastEntry,
  type MembershipEntry,
  messagePreview,
  type StoredEntry,
} from '../../shared/protocol';
import { memberReadSeqs, readMetas } from '../../shared/store/conversations';
import { getEntries } from '../../shared/store/messages';
import type { TableNames } from '../../shared/tables';

/** The list's order: newest activity first, then by id, so a cursor names one place in it. */
const listOrder = (a: ConversationListEntry, b: ConversationListEntry): number =>
  b.lastActivityAt.localeCompare(a.lastActivityAt) || a.conversationId.localeCompare(b.conversationId);

const cursorOf = (entry: ConversationListEntry): string => `${entry.lastActivityAt}|${entry.conversationId}`;

/** Whether `entry` comes after the one the cursor names, in list order. */
function isAfter(entry: ConversationListEntry, cursor: string): boolean {
  const split = cursor.indexOf('|');
  const named = { lastActivityAt: cursor.slice(0, split), conversationId: cursor.slice(split + 1) };
  return listOrder(named as ConversationListEntry, entry) < 0;
}

/** A stored entry as the list shows it; undefined for a dead writer's tombstone. */
function lastEntryOf(entry: StoredEntry): LastEntry | undefined {
  if (!isTombstone(entry)) {
    return {
      kind: 'message',
      seq: entry.seq,
      senderId: entry.senderId,
      sentAt: entry.sentAt,
      ...messagePreview(entry),
      ...(entry.editedAt === undefined ? {} : { edited: true as const }),
    };
  }
  if ('kind' in entry) {
    const { kind, seq, userIds, by, at } = entry as MembershipEntry;
    return { kind, seq, userIds, by, at };
  }
  if ('deleted' in entry) {
    const { seq, senderId, deletedAt } = entry as DeletedMessage;
    return { kind: 'deleted', seq, senderId, deletedAt };
  }
  return undefined;
}

/**
 * The caller's conversations, newest activity first, `limit` at a time after `cursor`. It reads the
 * caller's member items from the byMember index, the META item of each conversation (activity lives
 * there, so every page sorts them all), and the newest entry of each conversation on the page: its cost
 * grows with the number of conversations the caller belongs to, never with the number of messages. A
 * member item whose META is missing (a creation that never finished) is left out: that conversation
 * does not exist.
 */
export async function listConversations(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations' | 'messages'>,
  userId: string,
  limit: number,
  cursor?: string,
): Promise<ConversationListPage> {
  const readSeqs = await memberReadSeqs(ddb, tables, userId);
  const metas = await readMetas(ddb, tables, [...readSeqs.keys()]);
  const listed = metas
    .map((meta): ConversationListEntry => {
      const conversationId = String(meta.conversationId);
      const lastSeq = typeof meta.lastSeq === 'number' ? meta.lastSeq : 0;
      const readSeq = readSeqs.get(conversationId) ?? 0;
      return {
        conversationId,
        ...(typeof meta.title === 'string' ? { title: meta.title } : {}),
        ...(meta.direct === true && Array.isArray(meta.members)
          ? { direct: true as const, members: meta.members.map(String) }
          : {}),
        readSeq,
        unread: Math.max(0, lastSeq - readSeq),
        createdBy: String(meta.createdBy),
        createdAt: String(meta.createdAt),
        lastSeq,
        lastActivityAt: String(meta.lastReservedAt ?? meta.createdAt),
      };
    })
    .filter((entry) => cursor === undefined || isAfter(entry, cursor))
    .sort(listOrder);
  const page = listed.slice(0, limit);
  const newest = await getEntries(
    ddb,
    tables,
    page
      .filter((entry) => entry.lastSeq > 0)
      .map(({ conversationId, lastSeq }) => ({ conversationId, seq: lastSeq })),
  );
  const lastById = new Map(newest.map((entry) => [entry.conversationId, lastEntryOf(entry)]));
  const conversations = page.map((entry) => {
    const last = lastById.get(entry.conversationId);
    return last === undefined ? entry : { ...entry, last };
  });
  const hasMore = listed.length > limit;
  const lastListed = conversations.at(-1);
  return {
    conversations,
    hasMore,
    ...(hasMore && lastListed !== undefined ? { nextCursor: cursorOf(lastListed) } : {}),
  };
}
