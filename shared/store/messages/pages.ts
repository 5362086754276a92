/**
 * Pages of the messages table: the backlog after a seq (subscribe) and pages before a seq (history).
 * Readers are also where a dead writer's hole is filled.
 */
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LIMITS } from '../../limits';
import type { MetricSink } from '../../metrics';
import type { StoredEntry, Tombstone } from '../../protocol';
import { fillHole, type MessageTables, toEntry } from './entries';

export interface MessagePage {
  /** Always in ascending seq order; tombstones included, to be skipped by clients. */
  messages: StoredEntry[];
  /** True when more entries exist beyond this page in the direction read. */
  hasMore: boolean;
}

/**
 * What a reader needs to tell a dead writer's hole from one still being written: the time, and the
 * newest reservation of the conversation's counter (META `lastSeq` and `lastReservedAt`).
 */
export interface HoleWitness {
  now: Date;
  lastSeq: number;
  /** ISO time taken just before the reservation of `lastSeq`; absent before the first send. */
  lastReservedAt?: string;
}

/** The time after which a reserved seq's writer cannot still be running: its whole lease has passed. */
const isStale = (witness: string | undefined, now: Date): boolean =>
  witness !== undefined && Date.parse(witness) < now.getTime() - LIMITS.writerLeaseMs;

/**
 * Turns the items of a complete seq range [from, to] (every item in it was read) into entries, filling
 * the holes whose writer is certainly dead. A hole's witness is the `sentAt` of the next item above it
 * (taken after that item's seq was reserved, so after the hole's seq was), or `tailWitness` for holes
 * above the last item. A hole younger than the lease is left out: its writer may still store it, and a
 * subscriber then gets it live. At most `limit` holes are filled per read, nearest the reader first
 * (lowest for a backlog, highest for history), which bounds its cost; when more were due the entries
 * stop at the last one filled and `truncated` says the page must not claim to be complete.
 */
async function withHolesFilled(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  conversationId: string,
  items: Record<string, unknown>[],
  range: { from: number; to: number; tailWitness?: string | undefined },
  options: { now: Date; limit: number; direction: 'ascending' | 'descending'; metrics: MetricSink },
): Promise<{ entries: StoredEntry[]; truncated: boolean }> {
  const entries = items.map(toEntry);
  const present = new Set(entries.map((entry) => entry.seq));
  const stale: number[] = [];
  let next = 0;
  for (let seq = range.from; seq <= range.to; seq++) {
    while (next < items.length && Number(items[next]?.seq) <= seq) next++;
    if (present.has(seq)) continue;
    const witness = next < items.length ? String(items[next]?.sentAt) : range.tailWitness;
    if (isStale(witness, options.now)) stale.push(seq);
  }
  if (options.direction === 'descending') stale.reverse();
  const due = stale.slice(0, options.limit);
  const truncated = stale.length > due.length;
  const filled = await Promise.all(
    due.map(
      async (seq): Promise<Tombstone | undefined> =>
        (await fillHole(ddb, tables, conversationId, seq, options.now, options.metrics))
          ? { conversationId, seq, tombstone: true }
          : undefined,
    ),
  );
  const tombstones = filled.filter((entry): entry is Tombstone => entry !== undefined);
  let all = [...entries, ...tombstones].sort((a, b) => a.seq - b.seq);
  const boundary = due.at(-1);
  if (truncated && boundary !== undefined) {
    all = all.filter((entry) =>
      options.direction === 'ascending' ? entry.seq <= boundary : entry.seq >= boundary,
    );
  }
  return { entries: all, truncated };
}

/** Trims a page so that its JSON stays under the reply quota, keeping the first ones in read order. */
function fitReply(entries: StoredEntry[]): { kept: StoredEntry[]; trimmed: boolean } {
  let bytes = 0;
  const kept: StoredEntry[] = [];
  for (const entry of entries) {
    bytes += Buffer.byteLength(JSON.stringify(entry), 'utf8') + 1;
    if (bytes > LIMITS.maxReplyBytes && kept.length > 0) return { kept, trimmed: true };
    kept.push(entry);
  }
  return { kept, trimmed: false };
}

/**
 * Entries with seq > afterSeq, ascending, one page. Strongly consistent so a just-acked message is seen.
 * It asks for one item more than `limit`, so `hasMore` is true only when there really is more. The holes
 * it fills are counted in `metrics`.
 */
export async function messagesAfter(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  conversationId: string,
  afterSeq: number,
  witness: HoleWitness,
  metrics: MetricSink,
  limit: number = LIMITS.defaultPageSize,
): Promise<MessagePage> {
  const { Items = [], LastEvaluatedKey } = await ddb.send(
    new QueryCommand({
      TableName: tables.messages,
      KeyConditionExpression: 'conversationId = :c AND seq > :after',
      ExpressionAttributeValues: { ':c': conversationId, ':after': afterSeq },
      ConsistentRead: true,
      // One more than asked says whether there is more without an empty extra round trip.
      Limit: limit + 1,
    }),
  );
  // DynamoDB may stop short of Limit at 1 MB: then what was not read is not a hole.
  const more = Items.length > limit || LastEvaluatedKey !== undefined;
  const page = Items.slice(0, limit);
  const range = more
    ? { from: afterSeq + 1, to: Number(page.at(-1)?.seq ?? afterSeq) }
    : { from: afterSeq + 1, to: witness.lastSeq, tailWitness: witness.lastReservedAt };
  const filled = await withHolesFilled(ddb, tables, conversationId, page, range, {
    now: witness.now,
    limit,
    direction: 'ascending',
    metrics,
  });
  const { kept, trimmed } = fitReply(filled.entries);
  return { messages: kept, hasMore: trimmed || more || filled.truncated };
}

/**
 * The newest entries with seq < beforeSeq (or the newest of all), returned in ascending order. The item
 * at beforeSeq itself is read too, as the witness of the holes just below it, and left out of the page.
 * The holes it fills are counted in `metrics`.
 */
export async function messagesBefore(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  conversationId: string,
  beforeSeq: number | undefined,
  witness: HoleWitness,
  metrics: MetricSink,
  limit: number = LIMITS.defaultPageSize,
): Promise<MessagePage> {
  const { Items = [], LastEvaluatedKey } = await ddb.send(
    new QueryCommand({
      TableName: tables.messages,
      KeyConditionExpression:
        beforeSeq === undefined ? 'conversationId = :c' : 'conversationId = :c AND seq <= :before',
      ExpressionAttributeValues:
        beforeSeq === undefined ? { ':c': conversationId } : { ':c': conversationId, ':before': beforeSeq },
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: limit + 2,
    }),
  );
  const above = beforeSeq !== undefined && Number(Items[0]?.seq) === beforeSeq ? Items[0] : undefined;
  const below = (above === undefined ? Items : Items.slice(1)).slice(0, limit + 1);
  const more = below.length > limit || (LastEvaluatedKey !== undefined && below.length > 0);
  const page = below.slice(0, limit).reverse();
  const to = beforeSeq === undefined ? witness.lastSeq : Math.min(beforeSeq - 1, witness.lastSeq);
  const range = {
    from: more ? Number(page[0]?.seq) : 1,
    to,
    // Holes just below beforeSeq are witnessed by the item there or, when there is none (the newest
    // seqs, where a client's gap repair reads), by the newest reservation.
    tailWitness: above === undefined ? witness.lastReservedAt : String(above.sentAt),
  };
  const filled = await withHolesFilled(ddb, tables, conversationId, page, range, {
    now: witness.now,
    limit,
    direction: 'descending',
    metrics,
  });
  // Newest first while trimming, so the page nearest beforeSeq is what survives the reply quota.
  const { kept, trimmed } = fitReply(filled.entries.reverse());
  return { messages: kept.reverse(), hasMore: trimmed || more || filled.truncated };
}
