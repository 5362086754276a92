/**
 * The connections and subscriptions tables: who is online and which conversations each socket listens
 * to. Their reads for presence and fan-out (who listens, who is online) are in ./presence.ts.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  BusyError,
  ConnectionGoneError,
  cancellationReasons,
  isAwsError,
  LimitExceededError,
} from '../../errors';
import { LIMITS } from '../../limits';
import { type TableNames, TTL_ATTRIBUTE } from '../../tables';
import { batchWriteAll } from '../batch';
import { itemOfFailedCondition, updateIf } from '../conditions';
import {
  conversationOfKey,
  knownShardCount,
  markedShards,
  placeSubscription,
  shardKey,
  shardOf,
} from './shards';
import { releaseConnectionSlot } from './slots';

type Tables = Pick<TableNames, 'connections' | 'subscriptions'>;

export interface ConnectionRecord {
  connectionId: string;
  userId: string;
  connectedAt: string;
  /**
   * When the token the connection was opened with expires (epoch seconds): its items expire then too,
   * and the fan-out treats its subscriptions as gone after it.
   */
  tokenExpiresAt?: number;
}

/** How long a client waits before retrying a subscription change that collided with another. */
const CONFLICT_RETRY_MS = 250;

/**
 * How long after its token's expiry a socket may still be open: its next frame or push closes it, and
 * silence makes API Gateway close it at its 10-minute idle timeout. Its items must outlive that, so that
 * `$disconnect` still finds the user to announce offline and the fan-out still finds the subscription to
 * close (DynamoDB may delete an expired item at any moment; DynamoDB Local does within a second).
 */
const AFTER_TOKEN_EXPIRY_SECONDS = 10 * 60;

/**
 * The TTL of a connection's items: past API Gateway's connection limit, or a socket's longest life after
 * its token's expiry if that is sooner.
 */
const expiry = (now: Date, tokenExpiresAt = Number.POSITIVE_INFINITY): number =>
  Math.min(
    Math.floor(now.getTime() / 1000) + LIMITS.connectionTtlSeconds,
    tokenExpiresAt + AFTER_TOKEN_EXPIRY_SECONDS,
  );

/** The TTL (epoch seconds) of a connection opened at `now`: its user's connection slot lapses with it. */
export const connectionExpiry = expiry;

/** Stores a new connection; TTL removes it if `$disconnect` never comes (sooner when its token expires sooner). */
export async function putConnection(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  connection: ConnectionRecord,
  now: Date,
): Promise<void> {
  await ddb.send(
    new PutCommand({
      TableName: tables.connections,
      Item: { ...connection, [TTL_ATTRIBUTE]: expiry(now, connection.tokenExpiresAt) },
    }),
  );
}

/** A condition of another table that a subscription is written under (see putSubscription). */
export interface SubscriptionGuard {
  /** A ConditionCheck transaction item. */
  check: NonNullable<TransactWriteCommandInput['TransactItems']>[number];
  /** What to throw when its condition fails. */
  refusal: () => Error;
}

/**
 * Registers a connection as a listener of a conversation (idempotent), in one transaction with the
 * connection item: the subscription is written only while the connection still exists, and its
 * partition (the conversation id, or `conversationId#n` for a shard of a big conversation, see
 * ./shards.ts, which costs one small Query first unless this environment knows the conversation is
 * sharded) joins the connection's `conversations` set, so deletes find it without a look-up. A
 * connection already subscribed in the base partition stays there when the conversation has been
 * sharded since (one subscription, never two). `$disconnect` deletes the connection item and
 * reads that set in the same atomic step, so a subscribe racing a disconnect either lands in the set
 * (and is deleted with it) or fails here: it can never leave an orphan subscription behind. The
 * subscription carries the connection's `tokenExpiresAt`, which the fan-out reads with it (no extra call).
 * A `guard` (a ConditionCheck of another table, such as the caller's member item) joins the same
 * transaction, so the subscription is written only while it holds; its refusal is thrown when it does not.
 * @throws ConnectionGoneError when the connection no longer exists.
 * @throws LimitExceededError when the connection already listens to the most conversations allowed.
 */
export function putSubscription(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  subscription: { conversationId: string; connectionId: string; userId: string; tokenExpiresAt?: number },
  now: Date,
  guard?: SubscriptionGuard,
): Promise<void> {
  return placeSubscription(ddb, tables, subscription, (partition) =>
    writeSubscription(ddb, tables, { ...subscription, partition }, now, guard),
  );
}

/** The transaction of {@link putSubscription}, once the partition is chosen. */
async function writeSubscription(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  subscription: {
    conversationId: string;
    connectionId: string;
    userId: string;
    tokenExpiresAt?: number;
    partition: string;
  },
  now: Date,
  guard: SubscriptionGuard | undefined,
): Promise<void> {
  const { partition, ...item } = subscription;
  const { conversationId, connectionId } = item;
  const max = LIMITS.maxSubscriptionsPerConnection;
  const inShard = partition !== conversationId;
  try {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: tables.connections,
              Key: { connectionId },
              UpdateExpression: 'ADD conversations :conversation',
              ConditionExpression:
                'attribute_exists(connectionId) AND (attribute_not_exists(conversations) OR ' +
                'size(conversations) < :max OR contains(conversations, :id))' +
                (inShard ? ' AND NOT contains(conversations, :base)' : ''),
              ExpressionAttributeValues: {
                ':conversation': new Set([partition]),
                ':max': max,
                ':id': partition,
                ...(inShard ? { ':base': conversationId } : {}),
              },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          {
            Put: {
              TableName: tables.subscriptions,
              Item: {
                ...item,
                conversationId: partition,
                subscribedAt: now.toISOString(),
                [TTL_ATTRIBUTE]: expiry(now, item.tokenExpiresAt),
              },
            },
          },
          ...(guard === undefined ? [] : [guard.check]),
        ],
      }),
    );
  } catch (err: unknown) {
    const reasons = cancellationReasons(err);
    if (guard !== undefined && reasons?.[2]?.Code === 'ConditionalCheckFailed') throw guard.refusal();
    // Two subscription changes of one connection at once (a client re-subscribing every stream after a
    // reconnect) may collide on the connection item: nothing was written, try again in a moment.
    if (reasons?.some((reason) => reason.Code === 'TransactionConflict')) {
      throw new BusyError('Another subscription change of this connection is in progress', CONFLICT_RETRY_MS);
    }
    const reason = reasons?.[0];
    if (reason?.Code !== 'ConditionalCheckFailed') throw err;
    const connection = itemOfFailedCondition(reason);
    if (connection === undefined) throw new ConnectionGoneError(connectionId);
    const held: unknown = connection.conversations;
    if (inShard && held instanceof Set && held.has(conversationId)) return;
    throw new LimitExceededError(`A connection may subscribe to at most ${max} conversations`);
  }
}

/**
 * Removes a connection's subscription to one conversation (idempotent): the connection's
 * `conversations` set says which partition holds it (the base one, or the connection's shard), and the
 * subscription item there is deleted. Two calls, as before shards: one UpdateItem, one DeleteItem. The
 * shard is computed from the count this environment read from the conversation's marker; when it has
 * not read it, the old set handed back names the shard, and a second UpdateItem takes it out. With the
 * connection item gone there is no set: the base item and the shard under the marker's count (a
 * consistent GetItem of the marker unless known) are deleted.
 */
export async function deleteSubscription(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  key: { conversationId: string; connectionId: string },
): Promise<void> {
  const { conversationId, connectionId } = key;
  const partitionsFor = (shards: number): string[] =>
    shards === 0
      ? [conversationId]
      : [conversationId, shardKey(conversationId, shardOf(connectionId, shards))];
  const known = knownShardCount(conversationId);
  const candidates = partitionsFor(known ?? 0);
  let partitions: string[];
  try {
    const held = await removeFromSet(ddb, tables, connectionId, candidates);
    let found = candidates.filter((partition) => held.has(partition));
    const shard = [...held].find(
      (partition) => partition !== conversationId && conversationOfKey(partition) === conversationId,
    );
    if (found.length === 0 && shard !== undefined) {
      await removeFromSet(ddb, tables, connectionId, [shard]);
      found = [shard];
    }
    // Not in the set (never subscribed, or tidied already): the base item is the only one a caller
    // could have listed without it, as a removal does.
    partitions = found.length > 0 ? found : [conversationId];
  } catch (err: unknown) {
    if (isAwsError(err, 'TransactionConflictException')) {
      throw new BusyError('Another subscription change of this connection is in progress', CONFLICT_RETRY_MS);
    }
    // A connection already gone has no set to read.
    if (!isAwsError(err, 'ConditionalCheckFailedException')) throw err;
    partitions = partitionsFor(known ?? (await markedShards(ddb, tables, conversationId)));
  }
  await Promise.all(
    partitions.map((partition) =>
      ddb.send(
        new DeleteCommand({
          TableName: tables.subscriptions,
          Key: { conversationId: partition, connectionId },
        }),
      ),
    ),
  );
}

/**
 * Takes `candidates` out of a connection's `conversations` set.
 * @returns the whole set as it was before (empty when the connection has none).
 * @throws ConditionalCheckFailedException when the connection item is gone.
 */
async function removeFromSet(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  connectionId: string,
  candidates: string[],
): Promise<ReadonlySet<string>> {
  const { Attributes } = await ddb.send(
    new UpdateCommand({
      TableName: tables.connections,
      Key: { connectionId },
      UpdateExpression: 'DELETE conversations :partitions',
      ConditionExpression: 'attribute_exists(connectionId)',
      ExpressionAttributeValues: { ':partitions': new Set(candidates) },
      ReturnValues: 'UPDATED_OLD',
    }),
  );
  const held: unknown = Attributes?.conversations;
  return held instanceof Set ? (held as Set<string>) : new Set();
}

/**
 * Removes a connection and all its subscriptions. Used by `$disconnect` and when postToConnection
 * answers 410 Gone. The connection item goes first and hands back, in the same atomic step, the set of
 * conversations it subscribed to; from then on no subscribe can add to it (see putSubscription).
 * `knownPartitions` (subscription partitions: a conversation id, or a shard's `conversationId#n`) are
 * deleted too: a 410 names the subscription it came through, which matters
 * when the connection item is already gone (expired by TTL after a `$disconnect` that never came, or
 * deleted by an earlier attempt that failed halfway) and so hands back no set. TTL removes the rest.
 * A connection item that was there gives its user's connection slot back (./slots.ts): one more
 * UpdateItem.
 * @returns the user of the connection (when its item was still there) and the conversations whose
 * subscriptions were deleted (conversation ids, whichever partition held them), so `$disconnect` can tell their listeners that the user went offline.
 */
export async function deleteConnection(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  connectionId: string,
  knownPartitions: string[] = [],
): Promise<{ userId?: string; conversations: string[]; announced: string[] }> {
  const { Attributes } = await ddb.send(
    new DeleteCommand({ TableName: tables.connections, Key: { connectionId }, ReturnValues: 'ALL_OLD' }),
  );
  const handedOver: unknown = Attributes?.[ANNOUNCED_ATTRIBUTE];
  const announced = handedOver instanceof Set ? [...handedOver].map(String) : [];
  const subscribed: unknown = Attributes?.conversations;
  const partitions = new Set(knownPartitions);
  if (subscribed instanceof Set) for (const partition of subscribed) partitions.add(String(partition));
  const keys = [...partitions].map((conversationId) => ({ conversationId, connectionId }));
  await batchWriteAll(
    ddb,
    tables.subscriptions,
    keys.map((Key) => ({ DeleteRequest: { Key } })),
  );
  const userId: unknown = Attributes?.userId;
  const expiresAt: unknown = Attributes?.[TTL_ATTRIBUTE];
  if (typeof userId === 'string' && typeof expiresAt === 'number')
    await releaseConnectionSlot(ddb, tables, { userId, connectionId, expiresAt });
  const conversations = [...new Set([...partitions].map(conversationOfKey))];
  return { ...(typeof userId === 'string' ? { userId } : {}), conversations, announced };
}

/**
 * On a connection item: conversations whose listeners heard its user come online through connections
 * that have closed since, handed over so that whichever connection of the user closes last tells them
 * the user went offline (lambdas/connect/presence.ts).
 */
export const ANNOUNCED_ATTRIBUTE = 'announcedTo';

/**
 * Adds `conversations` to the `announcedTo` set of the live connection `connectionId` (see
 * {@link ANNOUNCED_ATTRIBUTE}).
 * @returns false when that connection was deleted meanwhile (then nobody else will announce them).
 */
export async function addAnnounced(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'connections'>,
  connectionId: string,
  conversations: string[],
): Promise<boolean> {
  const outcome = await updateIf(ddb, {
    TableName: tables.connections,
    Key: { connectionId },
    UpdateExpression: 'ADD #announced :conversations',
    ConditionExpression: 'attribute_exists(connectionId)',
    ExpressionAttributeNames: { '#announced': ANNOUNCED_ATTRIBUTE },
    ExpressionAttributeValues: { ':conversations': new Set(conversations) },
  });
  return outcome.applied;
}
