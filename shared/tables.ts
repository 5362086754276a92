/**
 * The DynamoDB key design, as plain data. The CDK stack creates its tables from these definitions and
 * the local runtime creates DynamoDB Local tables from the same ones, so the two cannot drift apart.
 *
 * Access patterns (SPEC.md):
 * - connections:   get/delete a connection by id; GSI byUser lists a user's live connections (presence).
 * - subscriptions: fan-out lists the connections of one conversation (Query by conversationId, O(subscribers));
 *                  $disconnect and a 410 find the subscriptions of one connection in its connection item's
 *                  `conversations` set, read atomically with the item's deletion.
 * - conversations: one META item per conversation holds the gap-free `lastSeq` counter and `memberCount`; one MEMBER#<userId>
 *                  item per member answers "is X a member" with one GetItem; GSI byMember lists a user's
 *                  conversations; one REMOVED#<userId> item records a user's latest removal; a group's ROSTER item
 *                  holds its member ids (a string set), which name an untitled group in the conversation list.
 * - messages:      backlog after a seq and history before a seq are Queries on (conversationId, seq).
 * - idempotency:   one item per (conversation, sender, clientMessageId) remembers the seq a send got.
 *
 * Every read and write of a table lives with its owner under shared/store/: connections/ (connections
 * and subscriptions, with the who-listens and who-is-online reads and the `USER#` items of the
 * connections table: connection slots and frame budgets), conversations/, messages/, idempotency.ts.
 */
export type KeyType = 'S' | 'N';

export interface KeyDefinition {
  name: string;
  type: KeyType;
}

export interface IndexDefinition {
  indexName: string;
  partitionKey: KeyDefinition;
  sortKey?: KeyDefinition;
  /** `INCLUDE` copies the keys and `nonKeyAttributes`: writes to any other attribute cost the index nothing. */
  projection: 'ALL' | 'KEYS_ONLY' | 'INCLUDE';
  nonKeyAttributes?: string[];
}

export interface TableDefinition {
  partitionKey: KeyDefinition;
  sortKey?: KeyDefinition;
  /** Attribute holding an epoch-seconds expiry, when items expire. */
  timeToLiveAttribute?: string;
  globalSecondaryIndexes?: IndexDefinition[];
}

export const TTL_ATTRIBUTE = 'expiresAt';
export const META_SK = 'META';
export const memberSk = (userId: string): string => `MEMBER#${userId}`;

export const TABLES = {
  connections: {
    partitionKey: { name: 'connectionId', type: 'S' },
    timeToLiveAttribute: TTL_ATTRIBUTE,
    globalSecondaryIndexes: [
      {
        indexName: 'byUser',
        partitionKey: { name: 'userId', type: 'S' },
        sortKey: { name: 'connectionId', type: 'S' },
        // Keys only: a subscribe changes the item's `conversations` set, and a write that changes no
        // projected attribute costs the index nothing.
        projection: 'KEYS_ONLY',
      },
    ],
  },
  subscriptions: {
    partitionKey: { name: 'conversationId', type: 'S' },
    sortKey: { name: 'connectionId', type: 'S' },
    timeToLiveAttribute: TTL_ATTRIBUTE,
  },
  conversations: {
    partitionKey: { name: 'conversationId', type: 'S' },
    sortKey: { name: 'sk', type: 'S' },
    globalSecondaryIndexes: [
      {
        indexName: 'byMember',
        partitionKey: { name: 'memberId', type: 'S' },
        sortKey: { name: 'conversationId', type: 'S' },
        // Only what listConversations reads: the send bucket (`sendTat`) and the typing throttle
        // (`typingAt`) change the member item on every send and typing event, and with ALL each of
        // those writes would be a second write to the index.
        projection: 'INCLUDE',
        nonKeyAttributes: ['readSeq'],
      },
    ],
  },
  messages: {
    partitionKey: { name: 'conversationId', type: 'S' },
    sortKey: { name: 'seq', type: 'N' },
  },
  idempotency: {
    partitionKey: { name: 'idempotencyKey', type: 'S' },
    timeToLiveAttribute: TTL_ATTRIBUTE,
  },
} as const satisfies Record<string, TableDefinition>;

export type TableName = keyof typeof TABLES;

/** Physical table names, as handlers receive them through the environment. */
export type TableNames = Record<TableName, string>;

/** The environment variable that carries each table's physical name. */
export const TABLE_ENV: Record<TableName, string> = {
  connections: 'CONNECTIONS_TABLE',
  subscriptions: 'SUBSCRIPTIONS_TABLE',
  conversations: 'CONVERSATIONS_TABLE',
  messages: 'MESSAGES_TABLE',
  idempotency: 'IDEMPOTENCY_TABLE',
};
