/**
 * The `ROSTER` item of a group: its member ids as a string set, so that a conversation list can name an
 * untitled group for every member ("alice, carol" for bob) without reading its member items. It is
 * written in the same transactions as the member items and META `memberCount` (a creation, an add, an
 * accepted invitation, a removal or a leave), with set operations that need no read: `ADD` and
 * `DELETE` on `userIds`. It lives apart from META because META is updated by every send
 * (`ADD lastSeq 1`), and an update is billed by the item's size: 100 ids there would make each send of a
 * large group cost several write units instead of one.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TableNames } from '../../tables';
import { batchGetAll } from '../batch';
import type { TransactItem } from './admission';

export const ROSTER_SK = 'ROSTER';

type Tables = Pick<TableNames, 'conversations'>;

/** A creation's roster: put with the conversation's first members (never empty: the creator is one). */
export function putRoster(tables: Tables, conversationId: string, members: string[]): TransactItem {
  return {
    Put: {
      TableName: tables.conversations,
      Item: { conversationId, sk: ROSTER_SK, userIds: new Set(members) },
    },
  };
}

/**
 * Adds `userIds` (at least one) to the roster, or takes them off it (`DELETE` of the last id removes the
 * attribute, as DynamoDB has no empty set). A group created before rosters existed gets one holding
 * only the members who joined since, which the list shows next to the full `memberCount`.
 */
export function changeRoster(
  tables: Tables,
  conversationId: string,
  change: 'ADD' | 'DELETE',
  userIds: string[],
): TransactItem {
  return {
    Update: {
      TableName: tables.conversations,
      Key: { conversationId, sk: ROSTER_SK },
      UpdateExpression: `${change} userIds :ids`,
      ExpressionAttributeValues: { ':ids': new Set(userIds) },
    },
  };
}

/**
 * The member ids of each of `conversationIds` that has a roster, eventually consistent: one
 * BatchGetItem per 100 conversations.
 */
export async function readRosters(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationIds: string[],
): Promise<Map<string, string[]>> {
  if (conversationIds.length === 0) return new Map();
  const items = await batchGetAll(
    ddb,
    tables.conversations,
    conversationIds.map((conversationId) => ({ conversationId, sk: ROSTER_SK })),
  );
  return new Map(
    items.map((item) => [
      String(item.conversationId),
      item.userIds instanceof Set ? [...item.userIds].map(String) : [],
    ]),
  );
}
