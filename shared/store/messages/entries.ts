/**
 * One entry of the messages table: what an item reads as, a read by seq, and the conditional puts that
 * store a new entry at a reserved seq (a sent message, a membership change, a dead writer's tombstone).
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { isAwsError } from '../../errors';
import type { MetricSink } from '../../metrics';
import {
  type ChatMessage,
  chatMessageSchema,
  isTombstone,
  MEMBERSHIP_KINDS,
  type MembershipEntry,
  type MembershipKind,
  type StoredEntry,
} from '../../protocol';
import type { TableNames } from '../../tables';
import { batchGetAll } from '../batch';

export type MessageTables = Pick<TableNames, 'messages'>;

/**
 * A stored item as a page shows it: a dead writer's tombstone, a deleted message (a tombstone with
 * `deleted: true`, who deleted it and when, never a body), a membership change (a tombstone with its
 * `kind`), or the latest version of a message.
 */
export function toEntry(item: Record<string, unknown>): StoredEntry {
  const conversationId = String(item.conversationId);
  const seq = Number(item.seq);
  if (item.tombstone === true) return { conversationId, seq, tombstone: true };
  if (MEMBERSHIP_KINDS.includes(item.kind as MembershipKind)) {
    return {
      conversationId,
      seq,
      tombstone: true,
      kind: item.kind as MembershipKind,
      userIds: Array.isArray(item.userIds) ? item.userIds.map(String) : [],
      by: String(item.by),
      at: String(item.at),
    };
  }
  if (item.deleted === true) {
    return {
      conversationId,
      seq,
      tombstone: true,
      deleted: true,
      senderId: String(item.senderId),
      deletedAt: String(item.deletedAt),
      version: Number(item.version),
    };
  }
  return chatMessageSchema.parse({
    conversationId,
    seq,
    senderId: item.senderId,
    body: item.body,
    sentAt: item.sentAt,
    ...(item.editedAt === undefined ? {} : { editedAt: item.editedAt }),
    ...(item.version === undefined ? {} : { version: item.version }),
    ...(item.attachment === undefined ? {} : { attachment: item.attachment }),
  });
}

/** What is stored at one seq, strongly consistent; undefined when nothing is (yet). */
export async function getEntry(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  conversationId: string,
  seq: number,
  signal?: AbortSignal,
): Promise<StoredEntry | undefined> {
  const { Item } = await ddb.send(
    new GetCommand({ TableName: tables.messages, Key: { conversationId, seq }, ConsistentRead: true }),
    { abortSignal: signal },
  );
  return Item === undefined ? undefined : toEntry(Item);
}

/**
 * What is stored at each of `slots`, in one BatchGetItem per 100 (eventually consistent, as a list
 * line may be); in no particular order, and a slot with nothing stored is left out.
 */
export async function getEntries(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  slots: { conversationId: string; seq: number }[],
): Promise<StoredEntry[]> {
  const items = await batchGetAll(ddb, tables.messages, slots);
  return items.map(toEntry);
}

/** One stored message, strongly consistent; undefined when there is none (or only a tombstone) at that seq. */
export async function getMessage(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  conversationId: string,
  seq: number,
  signal?: AbortSignal,
): Promise<ChatMessage | undefined> {
  const entry = await getEntry(ddb, tables, conversationId, seq, signal);
  return entry === undefined || isTombstone(entry) ? undefined : entry;
}

/** A slot of the messages table takes one item, ever: every write of a new entry is conditional on this. */
const SLOT_EMPTY = 'attribute_not_exists(conversationId)';

/** Puts `item` at its seq unless something is stored there; false when the slot was taken. */
async function putIfSlotEmpty(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  item: { conversationId: string; seq: number } & Record<string, unknown>,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    await ddb.send(
      new PutCommand({ TableName: tables.messages, Item: item, ConditionExpression: SLOT_EMPTY }),
      signal === undefined ? undefined : { abortSignal: signal },
    );
    return true;
  } catch (err: unknown) {
    if (isAwsError(err, 'ConditionalCheckFailedException')) return false;
    throw err;
  }
}

/**
 * Stores a sent message at its reserved seq, only if the slot is empty: one conditional PutItem. The
 * clientMessageId is kept on the item, out of what pages show.
 * @returns true when stored, false when the slot was taken (a reader filled it with a tombstone).
 */
export function putMessage(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  message: ChatMessage,
  clientMessageId: string,
  signal?: AbortSignal,
): Promise<boolean> {
  return putIfSlotEmpty(ddb, tables, { ...message, clientMessageId }, signal);
}

/**
 * Stores a membership change at the seq reserved for it, only if the slot is empty: a reader may have
 * filled it with a tombstone meanwhile, and then the caller reserves again. `sentAt` is the change's
 * time, as a message's: it dates the holes below this seq for readers.
 * @returns true when stored, false when the slot was already taken.
 */
export function putMembershipEntry(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  entry: Omit<MembershipEntry, 'tombstone'>,
  signal?: AbortSignal,
): Promise<boolean> {
  return putIfSlotEmpty(ddb, tables, { ...entry, sentAt: entry.at }, signal);
}

/**
 * Fills a seq with a tombstone unless something is stored there: a conditional put, so it can never
 * overwrite a message, and a writer that commits later finds its slot taken and reserves another seq.
 * Each tombstone written is counted in `metrics` as `tombstonesFilled`: every one is a writer that died
 * or gave up between reserving its seq and storing under it.
 * @returns true when the tombstone was written, false when the slot was already taken.
 */
export async function fillHole(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  conversationId: string,
  seq: number,
  now: Date,
  metrics: MetricSink,
): Promise<boolean> {
  const item = { conversationId, seq, tombstone: true, sentAt: now.toISOString() };
  const filled = await putIfSlotEmpty(ddb, tables, item);
  if (filled) metrics.record('tombstonesFilled');
  return filled;
}
