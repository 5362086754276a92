/** Connections and subscriptions: who is online and which conversations each socket listens to. */
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  paginateQuery,
} from '@aws-sdk/lib-dynamodb';
import { fullJitterDelay } from '../backoff';
import { LIMITS } from '../limits';
import { TABLES, type TableNames, TTL_ATTRIBUTE } from '../tables';

type Tables = Pick<TableNames, 'connections' | 'subscriptions'>;
type SubscriptionTables = Pick<TableNames, 'subscriptions'>;

export interface ConnectionRecord {
  connectionId: string;
  userId: string;
  connectedAt: string;
}

const expiry = (now: Date): number => Math.floor(now.getTime() / 1000) + LIMITS.connectionTtlSeconds;

/** Stores a new connection; TTL removes it if `$disconnect` never comes. */
export async function putConnection(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  connection: ConnectionRecord,
  now: Date,
): Promise<void> {
  await ddb.send(
    new PutCommand({
      TableName: tables.connections,
      Item: { ...connection, [TTL_ATTRIBUTE]: expiry(now) },
    }),
  );
}

/** Registers a connection as a listener of a conversation (idempotent). */
export async function putSubscription(
  ddb: DynamoDBDocumentClient,
  tables: SubscriptionTables,
  subscription: { conversationId: string; connectionId: string; userId: string },
  now: Date,
): Promise<void> {
  await ddb.send(
    new PutCommand({
      TableName: tables.subscriptions,
      Item: { ...subscription, subscribedAt: now.toISOString(), [TTL_ATTRIBUTE]: expiry(now) },
    }),
  );
}

export async function deleteSubscription(
  ddb: DynamoDBDocumentClient,
  tables: SubscriptionTables,
  key: { conversationId: string; connectionId: string },
): Promise<void> {
  await ddb.send(new DeleteCommand({ TableName: tables.subscriptions, Key: key }));
}

/** Lists the connections subscribed to a conversation: one paginated Query, O(subscribers). */
export async function listSubscribers(
  ddb: DynamoDBDocumentClient,
  tables: SubscriptionTables,
  conversationId: string,
): Promise<string[]> {
  const connectionIds: string[] = [];
  const pages = paginateQuery(
    { client: ddb },
    {
      TableName: tables.subscriptions,
      KeyConditionExpression: 'conversationId = :c',
      ExpressionAttributeValues: { ':c': conversationId },
      ProjectionExpression: 'connectionId',
      // A subscription acked a moment ago must already receive the next message (G5).
      ConsistentRead: true,
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) connectionIds.push(String(item.connectionId));
  }
  return connectionIds;
}

const BATCH_WRITE_LIMIT = 25;
const MAX_BATCH_ATTEMPTS = 5;
/** DynamoDB returns unprocessed items when throttled; retry them spaced out, as AWS advises. */
const UNPROCESSED_BACKOFF = { baseDelayMs: 50, maxDelayMs: 1_000 };

async function batchDelete(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  keys: Record<string, string>[],
): Promise<void> {
  for (let start = 0; start < keys.length; start += BATCH_WRITE_LIMIT) {
    let pending: Record<string, unknown>[] = keys
      .slice(start, start + BATCH_WRITE_LIMIT)
      .map((Key) => ({ DeleteRequest: { Key } }));
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > MAX_BATCH_ATTEMPTS) throw new Error(`BatchWrite on ${tableName} left unprocessed items`);
      const result = await ddb.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
      pending = result.UnprocessedItems?.[tableName] ?? [];
      if (pending.length > 0) {
        const delay = fullJitterDelay(attempt, Math.random, UNPROCESSED_BACKOFF);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

/**
 * Removes a connection and all its subscriptions. Used by `$disconnect` and when postToConnection
 * answers 410 Gone. Subscriptions go first so a crash halfway leaves nothing that fan-out would use.
 */
export async function deleteConnection(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  connectionId: string,
): Promise<void> {
  const index = TABLES.subscriptions.globalSecondaryIndexes[0].indexName;
  const keys: Record<string, string>[] = [];
  const pages = paginateQuery(
    { client: ddb },
    {
      TableName: tables.subscriptions,
      IndexName: index,
      KeyConditionExpression: 'connectionId = :id',
      ExpressionAttributeValues: { ':id': connectionId },
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      keys.push({ conversationId: String(item.conversationId), connectionId });
    }
  }
  await batchDelete(ddb, tables.subscriptions, keys);
  await ddb.send(new DeleteCommand({ TableName: tables.connections, Key: { connectionId } }));
}
