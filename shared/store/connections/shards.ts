/**
 * Subscription shards. A conversation's subscriptions live in its base partition (`conversationId`),
 * which is all a small conversation ever has, so its fan-out is the one Query it always was. Once the
 * base partition holds LIMITS.fanoutShardThreshold subscriptions, the subscribe that finds it full
 * writes a marker item into it (`connectionId` = {@link SHARDS_MARKER}, `shards` = LIMITS.subscriptionShards
 * at that moment) and from then on every new subscription goes to partition `conversationId#n`,
 * n = 1..shards chosen by a hash of the connection id. The marker's count is written once and every
 * reader takes it from the marker, never from LIMITS: a deploy that changes the constant only changes
 * the count of conversations sharded after it. The base partition keeps the subscriptions stored before the marker
 * (shard 0); nothing moves. The fan-out reads the base partition as before: the marker tells it to
 * hand the other shards to parallel jobs (lambdas/fanout/split.ts).
 *
 * The marker also carries a room's tick (`tickMs`, docs/rooms.md), which a room's admin sets with its META
 * ({@link tickMarkerUpdate}): the fan-out reads it in the Query it makes anyway. A marker with a tick and
 * no `shards` is an unsharded room's; sharding adds `shards` to it.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { isAwsError } from '../../errors';
import { LIMITS } from '../../limits';
import type { TableNames } from '../../tables';
import { queryAll } from '../batch';

type Tables = Pick<TableNames, 'subscriptions'>;

/**
 * The sort key of the marker item. `#` never appears in an API Gateway connection id (base64 letters,
 * digits, `+ / =`) and sorts before all of them, so the marker is the first item of a Query.
 */
export const SHARDS_MARKER = '#shards';

/** One connection subscribed to a conversation, and the user on it. */
export interface Listener {
  connectionId: string;
  userId: string;
  /** When the connection's token expires (epoch seconds), if it subscribed with one. */
  tokenExpiresAt?: number;
}

/** The partition of shard `shard`: 0 is the base partition, the conversation id itself. */
export const shardKey = (conversationId: string, shard: number): string =>
  shard === 0 ? conversationId : `${conversationId}#${shard}`;

/** The conversation a partition key belongs to (the key itself for a base partition). */
export const conversationOfKey = (key: string): string => key.split('#', 1)[0] ?? key;

/** The shard (1..shards) of a connection: FNV-1a of its id, so every writer and deleter agrees. */
export function shardOf(connectionId: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < connectionId.length; i++) {
    hash ^= connectionId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return (hash % shards) + 1;
}

/**
 * Conversations known to be sharded, per execution environment: a marker is never removed, so a
 * positive answer holds for ever and later subscribes to a big room skip the look-up. Bounded so a
 * long-lived environment cannot grow it without limit.
 */
const knownShards = new Map<string, number>();
const KNOWN_SHARDS_MAX = 10_000;

function remember(conversationId: string, shards: number): number {
  if (knownShards.size >= KNOWN_SHARDS_MAX) knownShards.clear();
  knownShards.set(conversationId, shards);
  return shards;
}

/** A listener as the subscriptions table stores it; undefined for the marker. */
function toListener(item: Record<string, unknown>): Listener | undefined {
  if (item.connectionId === SHARDS_MARKER) return undefined;
  return {
    connectionId: String(item.connectionId),
    userId: String(item.userId),
    ...(typeof item.tokenExpiresAt === 'number' ? { tokenExpiresAt: item.tokenExpiresAt } : {}),
  };
}

/** One partition read: its listeners and, for the base partition, the marker's shard count and tick (0: none). */
export interface ShardRead {
  listeners: Listener[];
  shards: number;
  tickMs: number;
}

/**
 * The listeners of one shard of a conversation: one paginated Query of its partition, O(its
 * subscribers). `consistent` costs twice as much and sees a subscription stored or deleted a moment ago.
 */
export async function listShard(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  shard: number,
  options: { consistent: boolean },
): Promise<ShardRead> {
  const items = await queryAll(ddb, {
    TableName: tables.subscriptions,
    KeyConditionExpression: 'conversationId = :c',
    ExpressionAttributeValues: { ':c': shardKey(conversationId, shard) },
    ProjectionExpression: 'connectionId, userId, tokenExpiresAt, shards, tickMs',
    ConsistentRead: options.consistent,
  });
  const marker = items[0]?.connectionId === SHARDS_MARKER ? items[0] : undefined;
  const shards = typeof marker?.shards === 'number' ? remember(conversationId, marker.shards) : 0;
  const tickMs = typeof marker?.tickMs === 'number' ? marker.tickMs : 0;
  return { listeners: items.flatMap((item) => toListener(item) ?? []), shards, tickMs };
}

/**
 * This environment's subscribes to a conversation's base partition: Queries of it in flight, writes into it
 * in flight, and writes finished. The local runtime runs a whole crowd's subscribes in one process: all of
 * them read the base partition before any is stored, and without these counts every one would find it
 * short of the threshold and land in it. A write that finished while a Query was out may be missing from
 * its answer, so it counts for that Query too (counted twice if it was not missing: a marker written a
 * little early, never late). On Lambda, where an environment runs one subscribe at a time, they are 0 or 1.
 */
interface BaseWrites {
  reading: number;
  writing: number;
  written: number;
}
const baseWrites = new Map<string, BaseWrites>();

function baseWritesOf(conversationId: string): BaseWrites {
  let counts = baseWrites.get(conversationId);
  if (counts === undefined) {
    counts = { reading: 0, writing: 0, written: 0 };
    baseWrites.set(conversationId, counts);
  }
  return counts;
}

/** Forgets a conversation's counts once nothing of it is in flight here. */
function settle(conversationId: string, counts: BaseWrites): void {
  if (counts.reading === 0 && counts.writing === 0) baseWrites.delete(conversationId);
}

/** Marker writes in flight here, so that the subscribes of one crowd that find it full write it once. */
const marking = new Map<string, Promise<number>>();

function markOnce(ddb: DynamoDBDocumentClient, tables: Tables, conversationId: string): Promise<number> {
  let written = marking.get(conversationId);
  if (written === undefined) {
    written = markSharded(ddb, tables, conversationId).finally(() => marking.delete(conversationId));
    marking.set(conversationId, written);
  }
  return written;
}

/**
 * Where a new subscription of `connectionId` goes, then `write` of it there. A conversation known to be
 * sharded costs nothing; otherwise one eventually consistent Query of the base partition, at most
 * LIMITS.fanoutShardThreshold + 1 items (one item for a 3-member group): the marker comes first when
 * there is one; a base partition that is full, counting the subscriptions this environment is still
 * writing there, gets one (a conditional write; a subscribe racing it reads the winner's). A subscribe
 * that reads a stale "not sharded" writes to the base partition, which every reader still reads: it can
 * only make shard 0 a little bigger, never lose a subscription.
 * @returns what `write` returns.
 */
export async function placeSubscription<T>(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  key: { conversationId: string; connectionId: string },
  write: (partition: string) => Promise<T>,
): Promise<T> {
  const { conversationId, connectionId } = key;
  let shards = knownShards.get(conversationId) ?? 0;
  if (shards === 0) {
    const threshold = LIMITS.fanoutShardThreshold;
    const here = baseWritesOf(conversationId);
    here.reading += 1;
    const writtenBefore = here.written;
    let Items: Record<string, unknown>[];
    try {
      ({ Items = [] } = await ddb.send(
        new QueryCommand({
          TableName: tables.subscriptions,
          KeyConditionExpression: 'conversationId = :c',
          ExpressionAttributeValues: { ':c': conversationId },
          ProjectionExpression: 'connectionId, shards',
          Limit: threshold + 1,
        }),
      ));
    } finally {
      here.reading -= 1;
    }
    const first = Items[0];
    // Another subscribe here may have sharded it while this one read.
    const marked =
      first?.connectionId === SHARDS_MARKER && typeof first.shards === 'number'
        ? first.shards
        : knownShards.get(conversationId);
    const stored = Items.filter((item) => item.connectionId !== SHARDS_MARKER).length;
    const placing = here.writing + here.written - writtenBefore;
    if (marked === undefined && stored + placing < threshold) {
      // Counted in the same step as the decision, so the next subscribe's decision sees it.
      here.writing += 1;
      try {
        return await write(conversationId);
      } finally {
        here.writing -= 1;
        here.written += 1;
        settle(conversationId, here);
      }
    }
    settle(conversationId, here);
    shards = remember(conversationId, marked ?? (await markOnce(ddb, tables, conversationId)));
  }
  return write(shards === 0 ? conversationId : shardKey(conversationId, shardOf(connectionId, shards)));
}

/** Where a new subscription of `connectionId` goes (see {@link placeSubscription}): the partition key to write. */
export const subscriptionPartition = (
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  connectionId: string,
): Promise<string> =>
  placeSubscription(ddb, tables, { conversationId, connectionId }, async (partition) => partition);

/**
 * The shard count in a conversation's marker, 0 when it has none. A conversation known to be sharded
 * costs nothing; otherwise one consistent GetItem of the marker (so a marker written a moment ago is seen).
 */
export async function markedShards(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
): Promise<number> {
  const known = knownShards.get(conversationId);
  if (known !== undefined) return known;
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.subscriptions,
      Key: { conversationId, connectionId: SHARDS_MARKER },
      ProjectionExpression: 'shards',
      ConsistentRead: true,
    }),
  );
  return typeof Item?.shards === 'number' ? remember(conversationId, Item.shards) : 0;
}

/** The shard count this environment has read from a conversation's marker, if it has. */
export const knownShardCount = (conversationId: string): number | undefined =>
  knownShards.get(conversationId);

/**
 * The write that sets a room's tick on its marker, for the transaction that sets it on META too (so the two
 * never disagree): it creates the marker of an unsharded room and leaves `shards` as it is.
 */
export function tickMarkerUpdate(
  tables: Tables,
  conversationId: string,
  tickMs: number,
): NonNullable<TransactWriteCommandInput['TransactItems']>[number] {
  return {
    Update: {
      TableName: tables.subscriptions,
      Key: { conversationId, connectionId: SHARDS_MARKER },
      UpdateExpression: 'SET tickMs = :tick',
      ExpressionAttributeValues: { ':tick': tickMs },
    },
  };
}

/**
 * Writes the marker's shard count, which shards a conversation (once: a conditional UpdateItem, since a
 * room's marker may be there already with its tick), with the count LIMITS sets now.
 * @returns the shard count now in force: the marker's, read back when another subscribe wrote it first
 * (perhaps under another LIMITS.subscriptionShards).
 */
async function markSharded(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
): Promise<number> {
  const shards = LIMITS.subscriptionShards;
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: tables.subscriptions,
        Key: { conversationId, connectionId: SHARDS_MARKER },
        UpdateExpression: 'SET shards = :shards',
        ConditionExpression: 'attribute_not_exists(shards)',
        ExpressionAttributeValues: { ':shards': shards },
      }),
    );
  } catch (err: unknown) {
    if (!isAwsError(err, 'ConditionalCheckFailedException')) throw err;
    return markedShards(ddb, tables, conversationId);
  }
  return shards;
}
