/**
 * A room's admin work beyond its settings (docs/rooms.md "Moderators"): lifting a ban, the list of who is
 * banned, and a new invite code for a link room. A ban is the `REMOVED#<userId>` record an admin's
 * `removeMember` writes in the room (./rooms.ts removeFromRoom): its join transaction checks it is absent.
 */
import {
  type DynamoDBDocumentClient,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { cancellationReasons, NotAnAdminError } from '../../errors';
import type { BannedUser, RoomInfo } from '../../protocol';
import { META_SK, type TableNames } from '../../tables';
import { removalSk } from './removals';
import { stillAdmin } from './roles';
import { roomInfoOf } from './rooms';

type Tables = Pick<TableNames, 'conversations'>;

/**
 * Lifts admin `by`'s ban of `userId` in a room: one transaction that checks `by` is still an admin and
 * deletes the ban record, only if it is an admin's removal. The user may then join again (a link room
 * with its invite code); they are not made a member.
 * @returns false when `userId` was not banned (nothing written).
 * @throws NotAnAdminError when `by` is no admin of the room any more.
 */
export async function unbanFromRoom(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: { conversationId: string; userId: string; by: string },
): Promise<boolean> {
  const { conversationId, userId, by } = input;
  try {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          stillAdmin(tables, conversationId, by),
          {
            Delete: {
              TableName: tables.conversations,
              Key: { conversationId, sk: removalSk(userId) },
              ConditionExpression: '#kind = :removed',
              ExpressionAttributeNames: { '#kind': 'kind' },
              ExpressionAttributeValues: { ':removed': 'member_removed' },
            },
          },
        ],
      }),
    );
    return true;
  } catch (err: unknown) {
    const reasons = cancellationReasons(err);
    if (reasons?.[0]?.Code === 'ConditionalCheckFailed')
      throw new NotAnAdminError(conversationId, 'lift bans');
    if (reasons?.[1]?.Code === 'ConditionalCheckFailed') return false;
    throw err;
  }
}

/** A page of a room's bans, and the user id the next page starts after when there may be more. */
export interface BanPage {
  banned: BannedUser[];
  next?: string;
}

/**
 * Up to `limit` users banned from a room, in user id order, after user id `after`: one consistent Query
 * of the room's `REMOVED#` records (a room writes no other kind), whose cost is the page's however many
 * are banned.
 */
export async function bannedPage(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  limit: number,
  after?: string,
): Promise<BanPage> {
  const { Items, LastEvaluatedKey } = await ddb.send(
    new QueryCommand({
      TableName: tables.conversations,
      KeyConditionExpression: 'conversationId = :c AND begins_with(sk, :removed)',
      ExpressionAttributeValues: { ':c': conversationId, ':removed': removalSk('') },
      ProjectionExpression: 'sk, #by, claimedAt',
      ExpressionAttributeNames: { '#by': 'by' },
      ConsistentRead: true,
      Limit: limit,
      ...(after === undefined ? {} : { ExclusiveStartKey: { conversationId, sk: removalSk(after) } }),
    }),
  );
  const banned = (Items ?? []).map((item) => ({
    userId: String(item.sk).slice(removalSk('').length),
    by: String(item.by),
    bannedAt: new Date(Number(item.claimedAt)).toISOString(),
  }));
  const last = LastEvaluatedKey?.sk;
  return { banned, ...(typeof last === 'string' ? { next: last.slice(removalSk('').length) } : {}) };
}

/**
 * Gives a link room `inviteCode` in place of its code: one UpdateItem of META, only while it is a link
 * room. Joins with the old code are refused from then on; its members stay.
 * @returns the room as its admin sees it.
 */
export async function replaceInviteCode(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: { conversationId: string; inviteCode: string; admin: Record<string, unknown> },
): Promise<RoomInfo> {
  const { Attributes } = await ddb.send(
    new UpdateCommand({
      TableName: tables.conversations,
      Key: { conversationId: input.conversationId, sk: META_SK },
      UpdateExpression: 'SET inviteCode = :code',
      ConditionExpression: '#access = :link',
      ExpressionAttributeNames: { '#access': 'access' },
      ExpressionAttributeValues: { ':code': input.inviteCode, ':link': 'link' },
      ReturnValues: 'ALL_NEW',
    }),
  );
  return roomInfoOf({ meta: Attributes ?? {}, member: input.admin });
}
