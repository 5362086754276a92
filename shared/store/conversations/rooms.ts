/**
 * Rooms (docs/rooms.md): a conversation whose META says `kind: 'room'`, with its access (`public` or
 * `link` with an `inviteCode`), `slowModeSeconds` and `tickMs` (./room-tick.ts). A member of a room has a
 * `MEMBER#` item like any member (the membership check every route makes, their read cursor, their
 * place in the byMember index and so in their conversation list, their conversation slot), but a room
 * keeps no roster and records no join or leave in its seq order: a join is one transaction of three
 * items, whatever the audience, and `memberCount` on META is the viewer count.
 *
 * A room's id starts with {@link ROOM_ID_PREFIX}, which no group or direct id can (those are UUIDs and
 * `dm-` digests), so the send path knows a room without reading its META.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  cancellationReasons,
  NotAllowedError,
  NotAMemberError,
  NotAnAdminError,
  ValidationError,
} from '../../errors';
import type { RoomAccess, RoomInfo } from '../../protocol';
import { META_SK, memberSk, type TableNames } from '../../tables';
import { batchGetAll } from '../batch';
import { tickMarkerUpdate } from '../connections';
import { type AdmissionContext, admissionUnit, notRemovedByAnAdmin, profileRefusal } from './admission';
import { memberDeparture } from './membership';
import { giveBackConversationSlot } from './profiles';
import { type RemovalRecord, removalSk } from './removals';
import { isAdmin, stillAdmin } from './roles';

type Tables = Pick<TableNames, 'conversations'>;
type CreateTables = Pick<TableNames, 'conversations' | 'subscriptions'>;

/** What every room id starts with. */
export const ROOM_ID_PREFIX = 'room_';

/** True when `conversationId` names a room (see the module comment). */
export const isRoomId = (conversationId: string): boolean => conversationId.startsWith(ROOM_ID_PREFIX);

/** A room as its creator asks for it. */
export interface NewRoom {
  conversationId: string;
  title: string;
  access: RoomAccess;
  slowModeSeconds: number;
  tickMs: number;
  /** Required for a `link` room, absent for a public one. */
  inviteCode?: string;
  createdBy: string;
  now: Date;
}

/** The META item and the member item (when there is one) of a room, as read or written. */
type Items = { meta: Record<string, unknown>; member?: Record<string, unknown> | undefined };

/**
 * What a room's acks say of it: the invite code only to its admins, the role only to its members.
 * @throws NotAMemberError when META is no room's.
 */
export function roomInfoOf({ meta, member }: Items): RoomInfo {
  const conversationId = String(meta.conversationId);
  if (meta.kind !== 'room') throw new NotAMemberError(conversationId);
  const admin = member !== undefined && isAdmin(member, meta.createdBy);
  return {
    conversationId,
    kind: 'room',
    title: String(meta.title),
    access: meta.access === 'link' ? 'link' : 'public',
    slowModeSeconds: typeof meta.slowModeSeconds === 'number' ? meta.slowModeSeconds : 0,
    tickMs: typeof meta.tickMs === 'number' ? meta.tickMs : 0,
    memberCount: typeof meta.memberCount === 'number' ? meta.memberCount : 0,
    createdBy: String(meta.createdBy),
    createdAt: String(meta.createdAt),
    lastSeq: typeof meta.lastSeq === 'number' ? meta.lastSeq : 0,
    ...(member === undefined ? {} : { role: admin ? ('admin' as const) : ('member' as const) }),
    ...(admin && typeof meta.inviteCode === 'string' ? { inviteCode: meta.inviteCode } : {}),
  };
}

/**
 * Creates a room with its creator as its one member and admin: one transaction of the creator's member
 * item, their conversation slot (LIMITS.maxConversationsPerUser) and META, and with a tick, the room's
 * marker that carries it to the fan-out (./room-tick.ts).
 * @throws LimitExceededError when the creator is in as many conversations as a user may be.
 */
export async function createRoom(
  ddb: DynamoDBDocumentClient,
  tables: CreateTables,
  room: NewRoom,
): Promise<RoomInfo> {
  const { conversationId, createdBy } = room;
  const createdAt = room.now.toISOString();
  const context: AdmissionContext = {
    conversationId,
    by: createdBy,
    at: createdAt,
    byAdmin: true,
    roleOf: () => 'admin',
  };
  const admission = { userId: createdBy, invite: false };
  const meta = {
    conversationId,
    sk: META_SK,
    kind: 'room',
    title: room.title,
    access: room.access,
    slowModeSeconds: room.slowModeSeconds,
    tickMs: room.tickMs,
    ...(room.inviteCode === undefined ? {} : { inviteCode: room.inviteCode }),
    createdBy,
    createdAt,
    lastSeq: 0,
    memberCount: 1,
  };
  try {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          // The creator's member item (0) and conversation slot (1).
          ...admissionUnit(tables, context, admission),
          {
            Put: {
              TableName: tables.conversations,
              Item: meta,
              ConditionExpression: 'attribute_not_exists(conversationId)',
            },
          },
          ...(room.tickMs > 0 ? [tickMarkerUpdate(tables, conversationId, room.tickMs)] : []),
        ],
      }),
    );
  } catch (err: unknown) {
    const reasons = cancellationReasons(err) ?? [];
    if (reasons[1]?.Code === 'ConditionalCheckFailed')
      throw profileRefusal(reasons[1].Item, admission, createdBy);
    throw err;
  }
  return roomInfoOf({ meta, member: { role: 'admin', memberId: createdBy } });
}

/**
 * Makes `userId` a member of a room: one transaction that adds one to META `memberCount` (only if it is
 * a room the caller may join: public, or `code` is its invite code), puts their member item (only if it
 * is not there), takes their conversation slot and checks that no admin removed them. Nothing is
 * recorded in the room's seq order.
 * @returns false when they were a member already (nothing written).
 * @throws NotAMemberError when there is no such room (a group or a direct conversation is none either).
 * @throws NotAllowedError when the room is a link room and `code` is missing or not its code, or an
 * admin removed the user.
 * @throws LimitExceededError when the user is in as many conversations as a user may be.
 */
export async function joinRoom(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: { conversationId: string; userId: string; code?: string | undefined; now: Date },
): Promise<boolean> {
  const { conversationId, userId } = input;
  const context: AdmissionContext = {
    conversationId,
    by: userId,
    at: input.now.toISOString(),
    byAdmin: true,
    roleOf: () => 'member',
  };
  const admission = { userId, invite: false };
  try {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: tables.conversations,
              Key: { conversationId, sk: META_SK },
              UpdateExpression: 'ADD memberCount :one',
              ConditionExpression: '#kind = :room AND (#access = :public OR inviteCode = :code)',
              ExpressionAttributeNames: { '#kind': 'kind', '#access': 'access' },
              ExpressionAttributeValues: {
                ':one': 1,
                ':room': 'room',
                ':public': 'public',
                // No code matches no room's: codes are 16 characters or more.
                ':code': input.code ?? '',
              },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          // The member item (1) and the conversation slot (2).
          ...admissionUnit(tables, context, admission),
          // No admin removed them (3).
          notRemovedByAnAdmin(tables, conversationId, userId),
        ],
      }),
    );
    return true;
  } catch (err: unknown) {
    const reasons = cancellationReasons(err);
    if (reasons === undefined) throw err;
    const failed = (index: number) => reasons[index]?.Code === 'ConditionalCheckFailed';
    if (failed(1)) return false;
    if (failed(3)) throw new NotAllowedError(`An admin removed you from room ${conversationId}`);
    if (failed(0)) throw joinRefusal(conversationId, reasons[0]?.Item, input.code);
    if (failed(2)) throw profileRefusal(reasons[2]?.Item, admission, userId);
    throw err;
  }
}

/** Why a join's META condition failed, from META as it stood (marshalled; absent when there is none). */
function joinRefusal(
  conversationId: string,
  item: Record<string, unknown> | undefined,
  code: string | undefined,
): Error {
  const meta = item === undefined ? undefined : unmarshall(item as Parameters<typeof unmarshall>[0]);
  if (meta?.kind !== 'room') return new NotAMemberError(conversationId);
  return new NotAllowedError(
    code === undefined
      ? `Room ${conversationId} is joined by invitation link only: ask an admin for its link`
      : `That invite code does not open room ${conversationId}; ask an admin for its link`,
  );
}

/**
 * Takes `userId` out of a room: one transaction deletes their member item (only if it is there), takes
 * one off META `memberCount` and gives back their conversation slot. Nothing is recorded in the seq
 * order, and no admin is promoted: a room whose admins all left has nobody to moderate it.
 * @returns false when they were no member (nothing written).
 */
export async function leaveRoom(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  userId: string,
): Promise<boolean> {
  try {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          ...memberDeparture(tables, conversationId, userId),
          giveBackConversationSlot(tables, userId),
        ],
      }),
    );
    return true;
  } catch (err: unknown) {
    if (cancellationReasons(err)?.[0]?.Code === 'ConditionalCheckFailed') return false;
    throw err;
  }
}

/**
 * A room's META and `userId`'s member item in it: one consistent BatchGetItem.
 * @throws NotAMemberError when there is no such room (to a member of a conversation that is no room,
 * ValidationError: they know it exists).
 */
export async function readRoom(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  userId: string,
): Promise<Items> {
  const items = await batchGetAll(
    ddb,
    tables.conversations,
    [META_SK, memberSk(userId)].map((sk) => ({ conversationId, sk })),
    { consistentRead: true },
  );
  const meta = items.find((item) => item.sk === META_SK);
  const member = items.find((item) => item.sk !== META_SK);
  if (meta?.kind === 'room') return { meta, member };
  if (meta !== undefined && member !== undefined) {
    throw new ValidationError([
      `conversationId: ${conversationId} is a group or direct conversation, not a room`,
    ]);
  }
  throw new NotAMemberError(conversationId);
}

/**
 * Sets a room's slow mode, for an admin: the caller's member item is read with META (./rooms.ts
 * readRoom), then one UpdateItem of META.
 * @throws NotAMemberError when there is no such room or the caller is no member.
 * @throws NotAnAdminError when the caller is no admin.
 */
export async function setSlowMode(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: { conversationId: string; userId: string; slowModeSeconds: number },
): Promise<RoomInfo> {
  const { conversationId, userId } = input;
  const { meta, member } = await readRoom(ddb, tables, conversationId, userId);
  if (member === undefined) throw new NotAMemberError(conversationId);
  if (!isAdmin(member, meta.createdBy)) throw new NotAnAdminError(conversationId, 'set its slow mode');
  const { Attributes } = await ddb.send(
    new UpdateCommand({
      TableName: tables.conversations,
      Key: { conversationId, sk: META_SK },
      UpdateExpression: 'SET slowModeSeconds = :seconds',
      ConditionExpression: 'attribute_exists(conversationId)',
      ExpressionAttributeValues: { ':seconds': input.slowModeSeconds },
      ReturnValues: 'ALL_NEW',
    }),
  );
  return roomInfoOf({ meta: Attributes ?? meta, member });
}

/**
 * True when `userId` is an admin of the room, a moderator: one consistent GetItem of their member item
 * (a room's member items always carry their role).
 */
export async function isModerator(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  userId: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.conversations,
      Key: { conversationId, sk: memberSk(userId) },
      ConsistentRead: true,
      ProjectionExpression: '#role',
      ExpressionAttributeNames: { '#role': 'role' },
    }),
    { abortSignal: signal },
  );
  return Item?.role === 'admin';
}

/**
 * Removes `userId` from a room for good, for admin `by`: one transaction that checks `by` is still an
 * admin, writes the removal record (`REMOVED#`, `member_removed`), which refuses their later joins, and,
 * when they are a member, deletes their member item, takes one off META `memberCount` and gives back
 * their conversation slot. Nothing is recorded in the room's seq order.
 * @returns whether they were a member (otherwise only the record is written, so they cannot join).
 * @throws NotAnAdminError when `by` is no admin of the room any more.
 */
export async function removeFromRoom(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: { conversationId: string; userId: string; by: string; now: Date },
): Promise<boolean> {
  const { conversationId, userId, by } = input;
  const record: RemovalRecord = { kind: 'member_removed', by, claimedAt: input.now.getTime() };
  const ban = [
    stillAdmin(tables, conversationId, by),
    { Put: { TableName: tables.conversations, Item: { conversationId, sk: removalSk(userId), ...record } } },
  ];
  const departure = [
    ...memberDeparture(tables, conversationId, userId),
    giveBackConversationSlot(tables, userId),
  ];
  for (const member of [true, false]) {
    try {
      await ddb.send(new TransactWriteCommand({ TransactItems: member ? [...ban, ...departure] : ban }));
      return member;
    } catch (err: unknown) {
      const reasons = cancellationReasons(err);
      if (reasons?.[0]?.Code === 'ConditionalCheckFailed') {
        throw new NotAnAdminError(conversationId, 'remove members');
      }
      // Not a member (any more): the record alone.
      if (!member || reasons?.[2]?.Code !== 'ConditionalCheckFailed') throw err;
    }
  }
  return false;
}
