/**
 * Roles of members: who is an admin (the creator, and whom an admin promotes), promoting, and keeping a
 * conversation with an admin when its last one leaves (the longest-standing member is promoted in the
 * same transaction as the leave).
 */
import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { cancellationReasons } from '../../errors';
import { memberSk, type TableNames } from '../../tables';
import { queryAll } from '../batch';
import type { TransactItem } from './admission';

type Tables = Pick<TableNames, 'conversations'>;

/** A member as roles see them: when they joined, and their role if their item has one. */
export interface MemberStanding {
  userId: string;
  joinedAt: string;
  role?: string;
}

/**
 * True when the member item (or standing) is an admin's. An item written before roles existed has no
 * role: its user is an admin only if they created the conversation (META `createdBy`).
 */
export function isAdmin(
  member: { role?: unknown; memberId?: unknown; userId?: unknown },
  createdBy: unknown,
): boolean {
  if (member.role !== undefined) return member.role === 'admin';
  return (member.userId ?? member.memberId) === createdBy;
}

/** Every member with their role and `joinedAt`: one consistent Query of the MEMBER# items. */
export async function listStandings(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
): Promise<MemberStanding[]> {
  const items = await queryAll(ddb, {
    TableName: tables.conversations,
    KeyConditionExpression: 'conversationId = :c AND begins_with(sk, :member)',
    ExpressionAttributeValues: { ':c': conversationId, ':member': memberSk('') },
    ExpressionAttributeNames: { '#role': 'role' },
    ProjectionExpression: 'memberId, joinedAt, #role',
    ConsistentRead: true,
  });
  return items.map((item) => ({
    userId: String(item.memberId),
    joinedAt: String(item.joinedAt ?? ''),
    ...(typeof item.role === 'string' ? { role: item.role } : {}),
  }));
}

/**
 * The longest-standing of `members` (earliest `joinedAt`, then the smaller user id, so every attempt
 * picks the same one); undefined when there is none.
 */
export function longestStanding(members: MemberStanding[]): MemberStanding | undefined {
  return [...members].sort(
    (a, b) => a.joinedAt.localeCompare(b.joinedAt) || a.userId.localeCompare(b.userId),
  )[0];
}

/** The transaction item that makes `userId` an admin, only while they are a member and not one already. */
export function makeAdmin(tables: Tables, conversationId: string, userId: string): TransactItem {
  return {
    Update: {
      TableName: tables.conversations,
      Key: { conversationId, sk: memberSk(userId) },
      UpdateExpression: 'SET #role = :admin',
      ConditionExpression:
        'attribute_exists(conversationId) AND (attribute_not_exists(#role) OR #role <> :admin)',
      ExpressionAttributeNames: { '#role': 'role' },
      ExpressionAttributeValues: { ':admin': 'admin' },
    },
  };
}

/**
 * The transaction item that holds only while `userId` is still a member with the rights the read found:
 * `role = admin`, or no role at all (the creator of a conversation written before roles existed).
 */
export function stillAdmin(tables: Tables, conversationId: string, userId: string): TransactItem {
  return {
    ConditionCheck: {
      TableName: tables.conversations,
      Key: { conversationId, sk: memberSk(userId) },
      ConditionExpression:
        'attribute_exists(conversationId) AND (attribute_not_exists(#role) OR #role = :admin)',
      ExpressionAttributeNames: { '#role': 'role' },
      ExpressionAttributeValues: { ':admin': 'admin' },
    },
  };
}

/**
 * Makes `userId` an admin, in one transaction with the check that `callerId` still is one.
 * @returns `promoted`; `unchanged` when the user is no member or an admin already; `caller_changed`
 * when the caller is no admin (or no member) any more. Nothing is written unless promoted.
 */
export async function promoteMember(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: { conversationId: string; userId: string; callerId: string },
): Promise<'promoted' | 'unchanged' | 'caller_changed'> {
  const { conversationId, userId, callerId } = input;
  try {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          makeAdmin(tables, conversationId, userId),
          stillAdmin(tables, conversationId, callerId),
        ],
      }),
    );
    return 'promoted';
  } catch (err: unknown) {
    const reasons = cancellationReasons(err);
    if (reasons?.[1]?.Code === 'ConditionalCheckFailed') return 'caller_changed';
    if (reasons?.[0]?.Code === 'ConditionalCheckFailed') return 'unchanged';
    throw err;
  }
}
