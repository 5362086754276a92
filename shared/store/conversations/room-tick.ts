/**
 * A room's tick (docs/rooms.md): a viewer gets the room's pushes at most once per `tickMs`. It is kept in
 * two places written together: META `tickMs`, which the room's acks show, and the room's marker in the
 * subscriptions table (shared/store/connections/shards.ts), which the fan-out reads in the Query of the
 * base partition it makes for every run anyway, so the tick costs the hot path no request.
 */
import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { cancellationReasons, NotAMemberError, NotAnAdminError } from '../../errors';
import type { RoomInfo } from '../../protocol';
import { META_SK, type TableNames } from '../../tables';
import { tickMarkerUpdate } from '../connections';
import { isAdmin, stillAdmin } from './roles';
import { readRoom, roomInfoOf } from './rooms';

type Tables = Pick<TableNames, 'conversations' | 'subscriptions'>;

/**
 * Sets a room's tick, for an admin: META and the caller's member item are read (one BatchGetItem), then
 * one transaction sets `tickMs` on META and on the marker, with the check that the caller is still an
 * admin (a demotion racing it cannot slip between the read and the write).
 * @throws NotAMemberError when there is no such room or the caller is no member.
 * @throws NotAnAdminError when the caller is no admin.
 */
export async function setTick(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: { conversationId: string; userId: string; tickMs: number },
): Promise<RoomInfo> {
  const { conversationId, userId, tickMs } = input;
  const { meta, member } = await readRoom(ddb, tables, conversationId, userId);
  if (member === undefined) throw new NotAMemberError(conversationId);
  if (!isAdmin(member, meta.createdBy)) throw new NotAnAdminError(conversationId, 'set its tick');
  try {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          stillAdmin(tables, conversationId, userId),
          {
            Update: {
              TableName: tables.conversations,
              Key: { conversationId, sk: META_SK },
              UpdateExpression: 'SET tickMs = :tick',
              ConditionExpression: 'attribute_exists(conversationId)',
              ExpressionAttributeValues: { ':tick': tickMs },
            },
          },
          tickMarkerUpdate(tables, conversationId, tickMs),
        ],
      }),
    );
  } catch (err: unknown) {
    if (cancellationReasons(err)?.[0]?.Code === 'ConditionalCheckFailed') {
      throw new NotAnAdminError(conversationId, 'set its tick');
    }
    throw err;
  }
  return roomInfoOf({ meta: { ...meta, tickMs }, member });
}
