/**
 * Reads of the `MEMBER#<userId>` items: is X a member, which of these users are, who the members are
 * (with their read cursors), and which conversations a user belongs to (the byMember index).
 */
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { NotAMemberError } from '../../errors';
import type { MemberReadSeq } from '../../protocol';
import { memberSk, TABLES, type TableNames } from '../../tables';
import { batchGetAll, queryAll } from '../batch';
import type { TransactItem } from './admission';

const BY_MEMBER = TABLES.conversations.globalSecondaryIndexes[0].indexName;

/**
 * Throws {@link NotAMemberError} unless `userId` is a member of `conversationId`. A strongly consistent
 * read, so a member added a moment ago is seen.
 */
export async function requireMember(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
  userId: string,
  signal?: AbortSignal,
): Promise<void> {
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.conversations,
      Key: { conversationId, sk: memberSk(userId) },
      ConsistentRead: true,
      ProjectionExpression: 'conversationId',
    }),
    { abortSignal: signal },
  );
  if (Item === undefined) throw new NotAMemberError(conversationId);
}

/**
 * The transaction item that holds only while `userId` is a member of `conversationId`: a write beside it
 * lands only if the member item is there at that moment (a subscribe, whose refusal is
 * {@link NotAMemberError}).
 */
export function stillMember(
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
  userId: string,
): TransactItem {
  return {
    ConditionCheck: {
      TableName: tables.conversations,
      Key: { conversationId, sk: memberSk(userId) },
      ConditionExpression: 'attribute_exists(conversationId)',
    },
  };
}

/** Which of `userIds` are members already: one strongly consistent BatchGetItem. */
export async function existingMembers(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
  userIds: string[],
): Promise<Set<string>> {
  const items = await batchGetAll(
    ddb,
    tables.conversations,
    userIds.map((userId) => ({ conversationId, sk: memberSk(userId) })),
    { consistentRead: true, projection: 'memberId' },
  );
  return new Set(items.map((item) => String(item.memberId)));
}

/**
 * The members of a conversation with their read cursors, in member order: one consistent Query of its
 * MEMBER# items (at most LIMITS.maxGroupSize of them, a few KB).
 */
export async function listMemberCursors(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
): Promise<MemberReadSeq[]> {
  const items = await queryAll(ddb, {
    TableName: tables.conversations,
    KeyConditionExpression: 'conversationId = :c AND begins_with(sk, :member)',
    ExpressionAttributeValues: { ':c': conversationId, ':member': memberSk('') },
    ProjectionExpression: 'memberId, readSeq',
    ConsistentRead: true,
  });
  return items.map((item) => ({
    userId: String(item.memberId),
    readSeq: typeof item.readSeq === 'number' ? item.readSeq : 0,
  }));
}

/** The members of a conversation, in member order (the same one consistent Query). */
export async function listMembers(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
): Promise<string[]> {
  return (await listMemberCursors(ddb, tables, conversationId)).map((member) => member.userId);
}

/** One page of a user's conversations, in conversation id order, with their read cursor in each. */
export interface MemberPage {
  members: { conversationId: string; readSeq: number }[];
  /** The last conversation id of the page, when the index may hold more: the next page starts after it. */
  next?: string;
}

/**
 * Up to `limit` conversations of `userId` after the conversation id `after`, with their read cursor in
 * each (0 before their first `read`): one Query of the byMember index (which projects `readSeq` for
 * this), starting after the key `after` names. Its cost is the page's, however many conversations the
 * user has.
 */
export async function memberPage(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  userId: string,
  limit: number,
  after?: string,
): Promise<MemberPage> {
  const { Items, LastEvaluatedKey } = await ddb.send(
    new QueryCommand({
      TableName: tables.conversations,
      IndexName: BY_MEMBER,
      KeyConditionExpression: 'memberId = :u',
      ExpressionAttributeValues: { ':u': userId },
      ProjectionExpression: 'conversationId, readSeq',
      Limit: limit,
      // An index's start key names the index key and the table key; the member item's sk follows from the user.
      ...(after === undefined
        ? {}
        : { ExclusiveStartKey: { memberId: userId, conversationId: after, sk: memberSk(userId) } }),
    }),
  );
  const members = (Items ?? []).map((item) => ({
    conversationId: String(item.conversationId),
    readSeq: typeof item.readSeq === 'number' ? item.readSeq : 0,
  }));
  const last = LastEvaluatedKey?.conversationId;
  return { members, ...(typeof last === 'string' ? { next: last } : {}) };
}

/**
 * Up to `limit` conversations of `userId`: one Query of the conversations table's byMember index, keys
 * only (0.5 RRU per 4 KB), in conversation id order.
 */
export async function memberConversationIds(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  userId: string,
  limit: number,
): Promise<string[]> {
  const { Items } = await ddb.send(
    new QueryCommand({
      TableName: tables.conversations,
      IndexName: BY_MEMBER,
      KeyConditionExpression: 'memberId = :u',
      ExpressionAttributeValues: { ':u': userId },
      ProjectionExpression: 'conversationId',
      Limit: limit,
    }),
  );
  return (Items ?? []).map((item) => String(item.conversationId));
}
