/** The caller's conversation list: a page at a time through the byMember index, with unread counts and last entries. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  type ConversationListEntry,
  type ConversationListPage,
  type DeletedMessage,
  isTombstone,
  type LastEntry,
  LIST_ENTRY_MEMBERS,
  type MembershipEntry,
  messagePreview,
  type StoredEntry,
} from '../../shared/protocol';
import { memberPage, readMetas, readRosters } from '../../shared/store/conversations';
import { getEntries } from '../../shared/store/messages';
import type { TableNames } from '../../shared/tables';

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

/** A conversation as the list shows it, from its META item and the caller's read cursor. */
function listEntryOf(meta: Record<string, unknown>, readSeq: number): ConversationListEntry {
  const lastSeq = typeof meta.lastSeq === 'number' ? meta.lastSeq : 0;
  return {
    conversationId: String(meta.conversationId),
    ...(typeof meta.title === 'string' ? { title: meta.title } : {}),
    ...(meta.direct === true && Array.isArray(meta.members)
      ? { direct: true as const, members: meta.members.map(String) }
      : {}),
    ...(meta.kind === 'room' ? { kind: 'room' as const } : {}),
    memberCount: typeof meta.memberCount === 'number' ? meta.memberCount : 0,
    readSeq,
    unread: Math.max(0, lastSeq - readSeq),
    createdBy: String(meta.createdBy),
    createdAt: String(meta.createdAt),
    lastSeq,
    lastActivityAt: String(meta.lastReservedAt ?? meta.createdAt),
  };
}

/** Whether a list entry is named after its members, whom only the group's roster lists. */
const namedByMembers = (entry: ConversationListEntry): boolean =>
  entry.title === undefined && entry.direct === undefined;

/**
 * The caller's conversations, `limit` at a time after `cursor`, in conversation id order: a page is one
 * Query of the byMember index (the caller's member items of the page, with their read cursors), one
 * BatchGetItem of the page's META items, then at once one of their newest entries and, when the page
 * has an untitled group, one of those groups' rosters (to name them). Three or four requests in three
 * round trips, whatever the number of conversations the caller belongs to or the page asked for; clients
 * order the conversations by `lastActivityAt` themselves. A member item whose META is missing (a creation that never finished)
 * is left out: that conversation does not exist.
 */
export async function listConversations(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations' | 'messages'>,
  userId: string,
  limit: number,
  cursor?: string,
): Promise<ConversationListPage> {
  const { members, next } = await memberPage(ddb, tables, userId, limit, cursor);
  const metas = await readMetas(
    ddb,
    tables,
    members.map((member) => member.conversationId),
  );
  const metaById = new Map(metas.map((meta) => [String(meta.conversationId), meta]));
  const page = members.flatMap(({ conversationId, readSeq }) => {
    const meta = metaById.get(conversationId);
    return meta === undefined ? [] : [listEntryOf(meta, readSeq)];
  });
  const [newest, rosters] = await Promise.all([
    getEntries(
      ddb,
      tables,
      page
        .filter((entry) => entry.lastSeq > 0)
        .map(({ conversationId, lastSeq }) => ({ conversationId, seq: lastSeq })),
    ),
    readRosters(
      ddb,
      tables,
      page.filter(namedByMembers).map((entry) => entry.conversationId),
    ),
  ]);
  const lastById = new Map(newest.map((entry) => [entry.conversationId, lastEntryOf(entry)]));
  const conversations = page.map((entry) => {
    const last = lastById.get(entry.conversationId);
    // A group older than rosters may have an empty one: naming falls back to the id then.
    const members = rosters.get(entry.conversationId)?.sort().slice(0, LIST_ENTRY_MEMBERS) ?? [];
    return {
      ...entry,
      ...(members.length > 0 ? { members } : {}),
      ...(last === undefined ? {} : { last }),
    };
  });
  return { conversations, hasMore: next !== undefined, ...(next === undefined ? {} : { nextCursor: next }) };
}
