/**
 * Presence reads: who listens to a conversation (its subscriptions, with their users) and a user's live
 * connections (the connections table's byUser index). Which of a group's members are online is read
 * from their connection slots (./slots.ts); who is a member of a conversation is the
 * conversations table's (../conversations/members.ts).
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { TABLES, type TableNames, TTL_ATTRIBUTE } from '../../tables';
import { queryAll } from '../batch';
import { type Listener, listShard } from './shards';

const BY_USER = TABLES.connections.globalSecondaryIndexes[0].indexName;

/** Connection items read at once when confirming byUser candidates. */
const LOOKUP_CONCURRENCY = 10;

/**
 * The connections subscribed to a conversation with their users: one paginated Query of its base
 * partition, O(subscribers), and for a sharded conversation one more of each shard, side by side
 * (./shards.ts). `consistent` costs twice as much and sees a subscription stored or deleted a moment ago.
 */
export async function listListeners(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'subscriptions'>,
  conversationId: string,
  options: { consistent: boolean },
): Promise<Listener[]> {
  const base = await listShard(ddb, tables, conversationId, 0, options);
  if (base.shards === 0) return base.listeners;
  const shards = await Promise.all(
    Array.from({ length: base.shards }, (_, index) =>
      listShard(ddb, tables, conversationId, index + 1, options),
    ),
  );
  return [...base.listeners, ...shards.flatMap((shard) => shard.listeners)];
}

/** The ids of a user's connections as the byUser index has them (eventually consistent). */
export async function indexedConnections(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'connections'>,
  userId: string,
  limit?: number,
): Promise<string[]> {
  const items = await queryAll(
    ddb,
    {
      TableName: tables.connections,
      IndexName: BY_USER,
      KeyConditionExpression: 'userId = :u',
      ExpressionAttributeValues: { ':u': userId },
    },
    limit === undefined ? {} : { limit },
  );
  return items.map((item) => String(item.connectionId));
}

/**
 * A live connection of `userId` other than `exceptConnectionId`, or undefined. The byUser index names
 * the candidates, but it is eventually consistent: it may still list a connection deleted a moment ago
 * (two sockets of one user closing at once would each see the other). So each candidate is confirmed by
 * a consistent GetItem of its connection item, whose TTL must not have passed: two connections closing
 * together announce "offline" at least once, never zero times.
 */
export async function otherConnection(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'connections'>,
  userId: string,
  exceptConnectionId: string,
  now: Date,
): Promise<string | undefined> {
  const candidates = (await indexedConnections(ddb, tables, userId)).filter(
    (connectionId) => connectionId !== exceptConnectionId,
  );
  const nowSeconds = Math.floor(now.getTime() / 1000);
  for (let start = 0; start < candidates.length; start += LOOKUP_CONCURRENCY) {
    const found = await Promise.all(
      candidates.slice(start, start + LOOKUP_CONCURRENCY).map(async (connectionId) => {
        const { Item } = await ddb.send(
          new GetCommand({
            TableName: tables.connections,
            Key: { connectionId },
            ConsistentRead: true,
            ProjectionExpression: `connectionId, ${TTL_ATTRIBUTE}`,
          }),
        );
        const expiresAt: unknown = Item?.[TTL_ATTRIBUTE];
        return Item !== undefined && !(typeof expiresAt === 'number' && expiresAt <= nowSeconds);
      }),
    );
    const live = found.indexOf(true);
    if (live >= 0) return candidates[start + live];
  }
  return undefined;
}
