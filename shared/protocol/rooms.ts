/**
 * Rooms: conversations for audiences (docs/rooms.md). A room has a title and no member list to manage:
 * anyone signed in joins a `public` room, a `link` room takes its invite code. Joining records no
 * change in the room's seq order, so a crowd arriving never drowns its messages. Admins (the creator,
 * and whom an admin promotes) set a slow mode and a tick, and delete others' messages. Messages,
 * history, seqs, idempotency and resume are a conversation's.
 */

import { LIMITS } from '../limits';
import { conversationIdSchema, isWellFormedUnicode, userIdSchema } from './fields';
import { frameOf } from './frames';
import * as z from './zod';

/** Who may join: anyone signed in (`public`), or only who holds the room's invite code (`link`). */
export const roomAccessSchema = z.enum(['public', 'link']);
export type RoomAccess = z.infer<typeof roomAccessSchema>;

/** Seconds each member waits between two messages in the room; 0 turns slow mode off. */
export const slowModeSecondsSchema = z
  .number()
  .check(z.int(), z.minimum(0), z.maximum(LIMITS.maxSlowModeSeconds));

/**
 * The longest tick an admin may set on a room: a viewer gets its pushes at most once per tick, so a
 * message waits up to one tick before it goes out (docs/rooms.md), and the FIFO consumer holds the
 * room's batch that long (docs/design.md "The room tick").
 */
export const MAX_TICK_MS = 2_000;

/** Milliseconds between two frames a viewer of the room gets at most; 0 turns the tick off. */
export const tickMsSchema = z.number().check(z.int(), z.minimum(0), z.maximum(MAX_TICK_MS));

/** A link room's invite code, as `createRoom` and `roomInfo` give it to the room's admins. */
export const inviteCodeSchema = z
  .string()
  .check(
    z.regex(
      /^[A-Za-z0-9_-]{16,64}$/,
      'must be an invite code of the room (16-64 characters of A-Z a-z 0-9 _ -)',
    ),
  );

/** Creates a room; the caller is its first member and its admin. */
export const createRoomFrameSchema = frameOf('createRoom', {
  title: z
    .string()
    .check(
      z.minLength(1),
      z.maxLength(LIMITS.maxTitleLength),
      z.refine(isWellFormedUnicode, 'must be well-formed Unicode'),
    ),
  access: roomAccessSchema,
  /** @default 0 (off) */
  slowModeSeconds: z.optional(slowModeSecondsSchema),
  /** @default 0 (off) */
  tickMs: z.optional(tickMsSchema),
});

/** Joins a room: a public one by its id, a link one with its invite code. Joining again changes nothing. */
export const joinRoomFrameSchema = frameOf('joinRoom', {
  conversationId: conversationIdSchema,
  code: z.optional(inviteCodeSchema),
});

/** Sets the room's slow mode (only an admin may); 0 turns it off. */
export const setSlowModeFrameSchema = frameOf('setSlowMode', {
  conversationId: conversationIdSchema,
  slowModeSeconds: slowModeSecondsSchema,
});

/** Sets the room's tick (only an admin may); 0 turns it off. */
export const setTickFrameSchema = frameOf('setTick', {
  conversationId: conversationIdSchema,
  tickMs: tickMsSchema,
});

/** What a room is now: its settings and member count (members, and anyone for a public room, may ask). */
export const roomInfoFrameSchema = frameOf('roomInfo', {
  conversationId: conversationIdSchema,
});

/** Lifts an admin's ban (their `removeMember` in the room): the user may join again. Admins only. */
export const unbanMemberFrameSchema = frameOf('unbanMember', {
  conversationId: conversationIdSchema,
  userId: userIdSchema,
});

/** Who is banned from the room, a page at a time in user id order. Admins only. */
export const listBannedFrameSchema = frameOf('listBanned', {
  conversationId: conversationIdSchema,
  limit: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(LIMITS.maxPageSize))),
  /** The `nextCursor` of the page before. */
  cursor: z.optional(userIdSchema),
});

/** Gives a link room a new invite code: its old link stops working, its members stay. Admins only. */
export const newInviteCodeFrameSchema = frameOf('newInviteCode', {
  conversationId: conversationIdSchema,
});

export type CreateRoomFrame = z.infer<typeof createRoomFrameSchema>;
export type JoinRoomFrame = z.infer<typeof joinRoomFrameSchema>;
export type SetSlowModeFrame = z.infer<typeof setSlowModeFrameSchema>;
export type SetTickFrame = z.infer<typeof setTickFrameSchema>;
export type RoomInfoFrame = z.infer<typeof roomInfoFrameSchema>;

/** A room as its acks describe it. */
export interface RoomInfo {
  conversationId: string;
  kind: 'room';
  title: string;
  access: RoomAccess;
  /** 0 when slow mode is off. */
  slowModeSeconds: number;
  /** 0 when the tick is off: otherwise a viewer gets at most one frame of the room per `tickMs`. */
  tickMs: number;
  /** Its members now: the viewer count (an atomic counter on the room, moved by every join and leave). */
  memberCount: number;
  createdBy: string;
  createdAt: string;
  lastSeq: number;
  /** The caller's role; absent when the caller is no member. */
  role?: 'admin' | 'member';
  /** A link room's invite code, for its admins only: `joinRoom {conversationId, code}` lets anyone in. */
  inviteCode?: string;
}

/** The ack of `createRoom`, `roomInfo`, `setSlowMode` and `setTick`. */
export interface RoomAck {
  room: RoomInfo;
}

/** The ack of `joinRoom`: `joined: false` when the caller was a member already (nothing changed). */
export interface JoinRoomAck {
  room: RoomInfo;
  joined: boolean;
}

/** The ack of `unbanMember`: `unbanned: false` when the user was not banned (nothing changed). */
export interface UnbanAck {
  conversationId: string;
  userId: string;
  unbanned: boolean;
}

/** A user an admin banned from a room (`removeMember`): who did, and when. */
export interface BannedUser {
  userId: string;
  by: string;
  bannedAt: string;
}

/** The ack of `listBanned`: a page of the room's bans in user id order. */
export interface BannedListAck {
  conversationId: string;
  banned: BannedUser[];
  /** The room may have more: pass `nextCursor` as `cursor` (a last page can come back empty). */
  hasMore: boolean;
  nextCursor?: string;
}
