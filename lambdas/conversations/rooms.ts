/**
 * The room routes (docs/rooms.md): `createRoom`, `joinRoom`, `setSlowMode`, `setTick`, `roomInfo`, and
 * `leave` and `removeMember` in a room, which record nothing in the room's seq order. Every read and
 * write of the room is in shared/store/conversations/rooms.ts. The admins' `unbanMember`, `listBanned` and `newInviteCode` are
 * here too, their reads and writes in shared/store/conversations/room-admin.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { postEphemeral } from '../../shared/ephemeral';
import { NotAMemberError, NotAnAdminError, ValidationError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import type { PostFn } from '../../shared/poster';
import type { MembershipChangeAck, MembershipFrame } from '../../shared/protocol';
import type { ActionRoutes, Caller } from '../../shared/route-kit';
import { deleteSubscription, indexedConnections } from '../../shared/store/connections';
import {
  bannedPage,
  createRoom,
  isAdmin,
  isRoomId,
  joinRoom,
  leaveRoom,
  ROOM_ID_PREFIX,
  readRoom,
  removeFromRoom,
  replaceInviteCode,
  roomInfoOf,
  setSlowMode,
  setTick,
  unbanFromRoom,
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
  /** Posts to connections: a banned user's are told at once. Without it they learn it at their next request. */
  post?: PostFn | undefined;
}

const randomInviteCode = (): string => randomBytes(16).toString('base64url');

/** The room routes, for the conversations handler's route table. */
export function roomRoutes(
  deps: RoomDeps,
): Pick<
  Required<ActionRoutes>,
  'createRoom' | 'joinRoom' | 'setSlowMode' | 'setTick' | 'roomInfo' | RoomAdminAction
> {
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
        tickMs: frame.tickMs ?? 0,
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
    setTick: async (frame, caller) => {
      logger.appendKeys({ conversationId: frame.conversationId });
      const room = await setTick(ddb, tables, { ...frame, userId: caller.userId });
      logger.info('Tick set', { tickMs: room.tickMs });
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
    ...roomAdminRoutes(deps),
  };
}

/** The actions only a room's admins may take beyond its settings. */
type RoomAdminAction = 'unbanMember' | 'listBanned' | 'newInviteCode';

/**
 * `unbanMember` (one transaction: still an admin, the ban record deleted if it is one), `listBanned` (one
 * Query a page) and `newInviteCode` (one UpdateItem of META), each after the caller's role is read with
 * META (one BatchGetItem).
 */
function roomAdminRoutes(deps: RoomDeps): Pick<Required<ActionRoutes>, RoomAdminAction> {
  const { ddb, tables, logger } = deps;
  return {
    unbanMember: async (frame, caller) => {
      const { conversationId, userId } = frame;
      logger.appendKeys({ conversationId });
      await readAsAdmin(deps, conversationId, caller.userId, 'lift bans');
      const unbanned = await unbanFromRoom(ddb, tables, { conversationId, userId, by: caller.userId });
      logger.info('Ban lifted', { unbanned });
      return { conversationId, userId, unbanned };
    },
    listBanned: async (frame, caller) => {
      const { conversationId } = frame;
      await readAsAdmin(deps, conversationId, caller.userId, 'see who is banned');
      const limit = frame.limit ?? LIMITS.maxPageSize;
      const { banned, next } = await bannedPage(ddb, tables, conversationId, limit, frame.cursor);
      return { conversationId, banned, hasMore: next !== undefined, ...(next && { nextCursor: next }) };
    },
    newInviteCode: async (frame, caller) => {
      const { conversationId } = frame;
      logger.appendKeys({ conversationId });
      const { meta, member } = await readAsAdmin(deps, conversationId, caller.userId, 'change its link');
      if (meta.access !== 'link') {
        throw new ValidationError([
          `conversationId: room ${conversationId} is public: anyone joins it by its id, and it has no invite code`,
        ]);
      }
      const inviteCode = (deps.newInviteCode ?? randomInviteCode)();
      const room = await replaceInviteCode(ddb, tables, { conversationId, inviteCode, admin: member });
      logger.info('Invite code replaced');
      return { room };
    },
  };
}

/**
 * A room's META and the caller's member item (one consistent BatchGetItem), when the caller is an admin.
 * @throws NotAMemberError when the caller is no member of the room.
 * @throws NotAnAdminError when the caller is no admin; `what` says what only an admin may.
 */
async function readAsAdmin(
  deps: Pick<RoomDeps, 'ddb' | 'tables'>,
  conversationId: string,
  userId: string,
  what: string,
): Promise<{ meta: Record<string, unknown>; member: Record<string, unknown> }> {
  const { meta, member } = await readRoom(deps.ddb, deps.tables, conversationId, userId);
  if (member === undefined) throw new NotAMemberError(conversationId);
  if (!isAdmin(member, meta.createdBy)) throw new NotAnAdminError(conversationId, what);
  return { meta, member };
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
  await endSubscriptions(deps, conversationId, userId, caller.connectionId);
  if (removed) logger.info('Left a room');
  return { conversationId, userId, removed };
}

/**
 * Ends `userId`'s subscriptions to a room: those of the connections the byUser index lists (one Query,
 * then two requests per subscription), and `connectionId`'s, which the index may not list yet.
 * @returns those connections.
 */
async function endSubscriptions(
  deps: Pick<RoomDeps, 'ddb' | 'tables'>,
  conversationId: string,
  userId: string,
  connectionId?: string,
): Promise<string[]> {
  const { ddb, tables } = deps;
  const connections = new Set(await indexedConnections(ddb, tables, userId));
  if (connectionId !== undefined) connections.add(connectionId);
  await Promise.all(
    [...connections].map((connection) =>
      deleteSubscription(ddb, tables, { conversationId, connectionId: connection }),
    ),
  );
  return [...connections];
}

/**
 * An admin removes `userId` from a room (shared/store/conversations/rooms.ts, removeFromRoom): they are no
 * member from then on and cannot join again; their subscriptions end. The caller's role is read first
 * (one BatchGetItem with META). Acked `removed: false`, the ban written all the same, when they were no
 * member; there is no `seq`. With `deps.post`, the connections whose subscriptions ended are told with a
 * `member_removed` push at seq 0 (a room records no change; a group's creation is told at seq 0 too), one
 * post each, best effort: the byUser Query that found them is the one endSubscriptions made.
 * @throws NotAMemberError when the caller is no member of the room.
 * @throws NotAnAdminError when the caller is no admin.
 */
async function removeFromRoomRoute(
  deps: RoomDeps,
  conversationId: string,
  userId: string,
  callerId: string,
): Promise<MembershipChangeAck> {
  const { ddb, tables, logger } = deps;
  logger.appendKeys({ conversationId });
  await readAsAdmin(deps, conversationId, callerId, 'remove members');
  const now = deps.clock();
  const removed = await removeFromRoom(ddb, tables, { conversationId, userId, by: callerId, now });
  const connections = await endSubscriptions(deps, conversationId, userId);
  if (deps.post !== undefined) {
    const told: MembershipFrame = {
      type: 'membership',
      conversationId,
      seq: 0,
      event: 'member_removed',
      userIds: [userId],
      by: callerId,
      at: now.toISOString(),
    };
    await postEphemeral(deps.post, connections, JSON.stringify(told));
  }
  logger.info('Removed from a room', { removed });
  return { conversationId, userId, removed };
}

/** The membership routes that rooms change; `leave` and `removeMember` only with the fan-out queue. */
type MembershipRoutes = Pick<Required<ActionRoutes>, 'addMembers'> &
  Pick<ActionRoutes, 'leave' | 'removeMember'>;

/**
 * Membership routes that know rooms: in a room, `leave` (and `removeMember` of oneself) is
 * {@link leaveRoomRoute}, `removeMember` of someone else is an admin's removal for good
 * ({@link removeFromRoomRoute}), and `addMembers` is refused before any request (a room is joined, not
 * added to). Other conversations go to `routes`.
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
        return removeFromRoomRoute(deps, frame.conversationId, frame.userId, caller.userId);
      },
    }),
    addMembers: async (frame, caller) => {
      if (!isRoomId(frame.conversationId)) return addMembers(frame, caller);
      throw new ValidationError(['conversationId: nobody is added to a room; share it, and people join it']);
    },
  };
}
