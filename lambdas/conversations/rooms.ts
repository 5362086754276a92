/**
 * The room routes (docs/rooms.md): `createRoom`, `joinRoom`, `setSlowMode`, `roomInfo`, and `leave`
 * of a room, which records nothing in the room's seq order. Every read and write of the room is in
 * shared/store/conversations/rooms.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NotAMemberError, ValidationError } from '../../shared/errors';
import type { MembershipChangeAck } from '../../shared/protocol';
import type { ActionRoutes, Caller } from '../../shared/route-kit';
import { deleteSubscription, indexedConnections } from '../../shared/store/connections';
import {
  createRoom,
  isRoomId,
  joinRoom,
  leaveRoom,
  ROOM_ID_PREFIX,
  readRoom,
  roomInfoOf,
  setSlowMode,
} from '../../shared/store/conversations';
import type { TableNames } from '../../shared/tables';

export interface RoomDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'conversations' | 'subscriptions' | 'connections'>;
  logger: Pick<Logger, 'appendKeys' | 'info'>;
  clock: () => Date;
  /** The unique part of a new room's id (after ROOM_ID_PREFIX). @default crypto.randomUUID */
  newId?: () => string;
  /** A link room's invite code. @default 128 random bits, base64url (22 characters) */
  newInviteCode?: () => string;
}

const randomInviteCode = (): string => randomBytes(16).toString('base64url');

/** The room routes, for the conversations handler's route table. */
export function roomRoutes(
  deps: RoomDeps,
): Pick<Required<ActionRoutes>, 'createRoom' | 'joinRoom' | 'setSlowMode' | 'roomInfo'> {
  const { ddb, tables, logger, clock } = deps;
  return {
    createRoom: async (frame, caller) => {
      const conversationId = `${ROOM_ID_PREFIX}${(deps.newId ?? randomUUID)()}`;
      logger.appendKeys({ conversationId });
      const room = await createRoom(ddb, tables, {
        conversationId,
        title: frame.title,
        access: frame.access,
        slowModeSeconds: frame.slowModeSeconds ?? 0,
        ...(frame.access === 'link' ? { inviteCode: (deps.newInviteCode ?? randomInviteCode)() } : {}),
        createdBy: caller.userId,
        now: clock(),
      });
      logger.info('Room created', { access: room.access });
      return { room };
    },
    joinRoom: async (frame, caller) => {
      const { conversationId } = frame;
      logger.appendKeys({ conversationId });
      const joined = await joinRoom(ddb, tables, {
        conversationId,
        userId: caller.userId,
        code: frame.code,
        now: clock(),
      });
      const room = roomInfoOf(await readRoom(ddb, tables, conversationId, caller.userId));
      if (joined) logger.info('Joined a room', { memberCount: room.memberCount });
      return { room, joined };
    },
    setSlowMode: async (frame, caller) => {
      logger.appendKeys({ conversationId: frame.conversationId });
      const room = await setSlowMode(ddb, tables, { ...frame, userId: caller.userId });
      logger.info('Slow mode set', { slowModeSeconds: room.slowModeSeconds });
      return { room };
    },
    roomInfo: async (frame, caller) => {
      const items = await readRoom(ddb, tables, frame.conversationId, caller.userId);
      // A link room is known only to its members: to anyone else it answers as an unknown id does.
      if (items.member === undefined && items.meta.access !== 'public') {
        throw new NotAMemberError(frame.conversationId);
      }
      return { room: roomInfoOf(items) };
    },
  };
}

/**
 * The caller leaves a room (shared/store/conversations/rooms.ts, leaveRoom), then their connections'
 * subscriptions to it end, so the fan-out stops reaching them: this connection's, and those of their
 * other connections as the byUser index lists them (one Query, then two requests per subscription).
 * Leaving again is acked `removed: false`. There is no `seq`: a room records no joins or leaves.
 */
export async function leaveRoomRoute(
  deps: RoomDeps,
  conversationId: string,
  caller: Pick<Caller, 'userId' | 'connectionId'>,
): Promise<MembershipChangeAck> {
  const { ddb, tables, logger } = deps;
  const { userId } = caller;
  logger.appendKeys({ conversationId });
  const removed = await leaveRoom(ddb, tables, conversationId, userId);
  const connections = new Set([caller.connectionId, ...(await indexedConnections(ddb, tables, userId))]);
  await Promise.all(
    [...connections].map((connectionId) => deleteSubscription(ddb, tables, { conversationId, connectionId })),
  );
  if (removed) logger.info('Left a room');
  return { conversationId, userId, removed };
}

/** The membership routes that rooms change; `leave` and `removeMember` only with the fan-out queue. */
type MembershipRoutes = Pick<Required<ActionRoutes>, 'addMembers'> &
  Pick<ActionRoutes, 'leave' | 'removeMember'>;

/**
 * Membership routes that know rooms: in a room, `leave` (and `removeMember` of oneself) is
 * {@link leaveRoomRoute}; `addMembers`, and `removeMember` of someone else, are refused before any
 * request (a room is joined, not added to; its admins moderate by deleting messages). Other
 * conversations go to `routes`.
 */
export function roomAwareMembership(routes: MembershipRoutes, deps: RoomDeps): MembershipRoutes {
  const { leave, removeMember, addMembers } = routes;
  return {
    ...(leave && {
      leave: (frame, caller) =>
        isRoomId(frame.conversationId)
          ? leaveRoomRoute(deps, frame.conversationId, caller)
          : leave(frame, caller),
    }),
    ...(removeMember && {
      removeMember: async (frame, caller) => {
        if (!isRoomId(frame.conversationId)) return removeMember(frame, caller);
        if (frame.userId === caller.userId) return leaveRoomRoute(deps, frame.conversationId, caller);
        throw new ValidationError([
          "conversationId: a room's members leave by themselves; its admins delete messages instead",
        ]);
      },
    }),
    addMembers: async (frame, caller) => {
      if (!isRoomId(frame.conversationId)) return addMembers(frame, caller);
      throw new ValidationError(['conversationId: nobody is added to a room; share it, and people join it']);
    },
  };
}
