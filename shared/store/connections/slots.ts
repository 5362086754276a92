/**
 * A user's connection slots, on their `USER#<userId>` item in the connections table (its key never
 * collides with an API Gateway connection id, and it has no `userId` attribute, so the byUser index never
 * lists it; ./budgets.ts keeps the user's frame budgets on the same item). `liveConnections` is a string
 * set of `<expiresAt> <connectionId>`, capped at LIMITS.maxConnectionsPerUser by the condition of the
 * `ADD` that claims a slot at `$connect`.
 *
 * A slot is given back when its connection item is deleted (`$disconnect`, or a 410 in the fan-out:
 * ./connections.ts deleteConnection). A connection that ends without either (a lost `$disconnect`, a
 * crash between the two deletes) cannot hold its slot for ever: every entry carries its connection's own
 * TTL, and a claim refused at the cap drops the entries past it and tries again. So the count can only
 * drift upwards, by connections that are gone, and for at most LIMITS.connectionTtlSeconds.
 */
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { LIMITS } from '../../limits';
import { type TableNames, TTL_ATTRIBUTE } from '../../tables';
import { batchGetAll } from '../batch';
import { updateIf } from '../conditions';

type Tables = Pick<TableNames, 'connections'>;

const LIVE_ATTRIBUTE = 'liveConnections';

const USER_PREFIX = 'USER#';

/** The key of a user's limits item in the connections table. */
export const userKey = (userId: string): { connectionId: string } => ({
  connectionId: `${USER_PREFIX}${userId}`,
});

/** One open connection of a user, as its slot names it. */
export interface ConnectionSlot {
  userId: string;
  connectionId: string;
  /** The connection item's TTL (epoch seconds): the slot lapses with it. */
  expiresAt: number;
}

const entryOf = (slot: ConnectionSlot): string => `${slot.expiresAt} ${slot.connectionId}`;

/** The entries of a `live` set as an item holds it (a set, or nothing). */
const entriesOf = (live: unknown): string[] => (live instanceof Set ? [...live].map(String) : []);

/** Whether an entry's connection has outlived its TTL. */
const lapsedAt =
  (nowSeconds: number) =>
  (entry: string): boolean =>
    Number(entry.split(' ')[0]) <= nowSeconds;

/** Claims per `$connect`: the claim, and once more after dropping lapsed entries. */
const CLAIM_ATTEMPTS = 2;

/**
 * Takes one of the user's connection slots: one UpdateItem, plus two when the user is at the cap and
 * some of their entries have lapsed (one to drop them, one to claim again).
 * @returns false when the user already has LIMITS.maxConnectionsPerUser live connections (nothing is written).
 */
export async function claimConnectionSlot(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  slot: ConnectionSlot,
  now: Date,
  cap: number = LIMITS.maxConnectionsPerUser,
): Promise<boolean> {
  for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
    const outcome = await updateIf(ddb, {
      TableName: tables.connections,
      Key: userKey(slot.userId),
      // The item lives as long as its newest connection could: TTL removes a user's item once idle.
      UpdateExpression: 'ADD #live :entry SET #ttl = :ttl',
      ConditionExpression: 'attribute_not_exists(#live) OR size(#live) < :cap',
      ExpressionAttributeNames: { '#live': LIVE_ATTRIBUTE, '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':entry': new Set([entryOf(slot)]), ':cap': cap, ':ttl': slot.expiresAt },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    if (outcome.applied) return true;
    const lapsed = entriesOf(outcome.item?.[LIVE_ATTRIBUTE]).filter(
      lapsedAt(Math.floor(now.getTime() / 1000)),
    );
    if (lapsed.length === 0 || attempt === CLAIM_ATTEMPTS) return false;
    await ddb.send(
      new UpdateCommand({
        TableName: tables.connections,
        Key: userKey(slot.userId),
        UpdateExpression: 'DELETE #live :lapsed',
        ExpressionAttributeNames: { '#live': LIVE_ATTRIBUTE },
        ExpressionAttributeValues: { ':lapsed': new Set(lapsed) },
      }),
    );
  }
  return false;
}

/** Gives a connection's slot back (idempotent: one UpdateItem, whether or not the slot was there). */
export async function releaseConnectionSlot(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  slot: ConnectionSlot,
): Promise<void> {
  await ddb.send(
    new UpdateCommand({
      TableName: tables.connections,
      Key: userKey(slot.userId),
      UpdateExpression: 'DELETE #live :entry',
      ExpressionAttributeNames: { '#live': LIVE_ATTRIBUTE },
      ExpressionAttributeValues: { ':entry': new Set([entryOf(slot)]) },
    }),
  );
}

/**
 * Which of `userIds` have at least one open connection: their connection slots, read with one
 * BatchGetItem of their limits items per 100 users (a group's whole membership in one request, where a
 * byUser index Query per member cost one request each). Eventually consistent; a slot past its
 * connection's TTL does not count.
 */
export async function onlineUsers(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  userIds: readonly string[],
  now: Date,
): Promise<Set<string>> {
  const items = await batchGetAll(
    ddb,
    tables.connections,
    userIds.map((userId) => userKey(userId)),
    { projection: `connectionId, ${LIVE_ATTRIBUTE}` },
  );
  const live = lapsedAt(Math.floor(now.getTime() / 1000));
  const online = new Set<string>();
  for (const item of items) {
    if (entriesOf(item[LIVE_ATTRIBUTE]).some((entry) => !live(entry)))
      online.add(String(item.connectionId).slice(USER_PREFIX.length));
  }
  return online;
}
