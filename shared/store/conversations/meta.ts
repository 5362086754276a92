/** The META item of a conversation: the seq counter every stored entry takes its seq from, and the member count. */
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isAwsError, NotAMemberError } from '../../errors';
import { META_SK, type TableNames } from '../../tables';
import { batchGetAll } from '../batch';

/**
 * Reserves the next seq of a conversation: one atomic `ADD lastSeq 1` on its META counter, which never
 * conflicts and never retries (G2). `reservedAt` dates the reservation for readers that must tell a dead
 * writer's hole from one still being written (shared/store/messages/pages.ts).
 * @throws NotAMemberError when the conversation does not exist.
 */
export async function reserveSeq(
  deps: { ddb: DynamoDBDocumentClient; tables: Pick<TableNames, 'conversations'> },
  conversationId: string,
  reservedAt: string,
  signal?: AbortSignal,
): Promise<number> {
  return (await reserveCounted(deps, conversationId, reservedAt, { signal })).seq;
}

/**
 * {@link reserveSeq}, which with `count` also answers the member count META holds as the seq is reserved
 * (a room's viewer count, pushed with its messages): the update returns the whole item instead of the
 * attributes it changed, which costs no read unit and writes the same item.
 */
export async function reserveCounted(
  deps: { ddb: DynamoDBDocumentClient; tables: Pick<TableNames, 'conversations'> },
  conversationId: string,
  reservedAt: string,
  options: { signal?: AbortSignal | undefined; count?: boolean },
): Promise<{ seq: number; memberCount?: number }> {
  try {
    const { Attributes } = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.conversations,
        Key: { conversationId, sk: META_SK },
        UpdateExpression: 'SET lastReservedAt = :at ADD lastSeq :one',
        ConditionExpression: 'attribute_exists(conversationId)',
        ExpressionAttributeValues: { ':one': 1, ':at': reservedAt },
        ReturnValues: options.count ? 'ALL_NEW' : 'UPDATED_NEW',
      }),
      { abortSignal: options.signal },
    );
    if (typeof Attributes?.lastSeq !== 'number')
      throw new Error(`Counter of ${conversationId} is not a number`);
    const { memberCount } = Attributes;
    return { seq: Attributes.lastSeq, ...(typeof memberCount === 'number' && { memberCount }) };
  } catch (err: unknown) {
    if (isAwsError(err, 'ConditionalCheckFailedException')) throw new NotAMemberError(conversationId);
    throw err;
  }
}

/** The conversation's counter (the last reserved seq, when it was reserved) and member count: one consistent read. */
export async function readCounter(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
): Promise<{ lastSeq: number; lastReservedAt?: string; memberCount?: number }> {
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.conversations,
      Key: { conversationId, sk: META_SK },
      ConsistentRead: true,
      ProjectionExpression: 'lastSeq, lastReservedAt, memberCount',
    }),
  );
  return {
    lastSeq: typeof Item?.lastSeq === 'number' ? Item.lastSeq : 0,
    ...(typeof Item?.lastReservedAt === 'string' ? { lastReservedAt: Item.lastReservedAt } : {}),
    ...(typeof Item?.memberCount === 'number' ? { memberCount: Item.memberCount } : {}),
  };
}

/** The whole META item, read consistently; undefined when the conversation does not exist. */
export async function readMeta(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
): Promise<Record<string, unknown> | undefined> {
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.conversations,
      Key: { conversationId, sk: META_SK },
      ConsistentRead: true,
    }),
  );
  return Item;
}

/**
 * The META items of `conversationIds`, eventually consistent, 100 per BatchGetItem, in no particular
 * order; a conversation without META (a creation that never finished) is simply absent.
 */
export async function readMetas(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationIds: string[],
): Promise<Record<string, unknown>[]> {
  return batchGetAll(
    ddb,
    tables.conversations,
    conversationIds.map((conversationId) => ({ conversationId, sk: META_SK })),
  );
}
