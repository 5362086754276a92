/**
 * The wire protocol: every frame a client may send (validated with zod) and every frame the server
 * sends back or pushes. README "Protocol" documents the same shapes for humans.
 */
import { z } from 'zod';
import {
  attachmentContentTypeSchema,
  attachmentKeySchema,
  attachmentSchema,
  attachmentSizeSchema,
  isKeyOf,
} from './attachments';
import type { ErrorCode } from './errors';
import { LIMITS } from './limits';

const utf8Bytes = (value: string): number => Buffer.byteLength(value, 'utf8');

/** Marks a schema issue that means "too large", so it maps to `payload_too_large`, not `invalid_request`. */
const tooLarge = (limitBytes: number) => ({ payloadTooLargeLimit: limitBytes });

export const conversationIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -');
/**
 * Characters that make one id look like another or hide part of it: controls (Cc), format characters
 * (Cf: zero-width joiners and spaces, bidi overrides and isolates, the BOM), separators (Z*, so no
 * spaces of any script), and unassigned, private-use or surrogate code points. `alice\u200b` and
 * `alice` would otherwise be two users who look the same.
 */
const INVISIBLE_OR_LOOKALIKE = /[\p{Cc}\p{Cf}\p{Z}\p{Cn}\p{Co}\p{Cs}#]/u;

/** True when `value` has no lone surrogate, so it survives UTF-8 (DynamoDB, SQS, the wire) unchanged. */
export const isWellFormedUnicode = (value: string): boolean => value.isWellFormed();

export const userIdSchema = z
  .string()
  .min(1)
  .max(128)
  .refine(isWellFormedUnicode, 'must be well-formed Unicode')
  .refine((id) => !INVISIBLE_OR_LOOKALIKE.test(id), {
    message: 'must not contain spaces, #, control, zero-width, bidi or other invisible characters',
  })
  .refine((id) => id.normalize('NFC') === id, 'must be in Unicode normalization form C (NFC)');
const clientMessageIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . : -');
const requestIdSchema = z.string().min(1).max(64).optional();
const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const sendFrameSchema = z
  .strictObject({
    action: z.literal('send'),
    requestId: requestIdSchema,
    conversationId: conversationIdSchema,
    clientMessageId: clientMessageIdSchema,
    body: z
      .string()
      .min(1, 'must not be empty')
      .refine(isWellFormedUnicode, 'must be well-formed Unicode (it has a lone surrogate)')
      .refine((body) => utf8Bytes(body) <= LIMITS.maxBodyBytes, {
        message: `must be at most ${LIMITS.maxBodyBytes} bytes of UTF-8`,
        params: tooLarge(LIMITS.maxBodyBytes),
      }),
    /** A file uploaded through `uploadUrl` into this conversation; its key must be under its prefix. */
    attachment: attachmentSchema.optional(),
  })
  .refine((frame) => frame.attachment === undefined || isKeyOf(frame.conversationId, frame.attachment.key), {
    message: "must be a key of this conversation's attachments",
    path: ['attachment', 'key'],
  });

/** Asks for a presigned PUT of one attachment of `contentType` and exactly `size` bytes. */
export const uploadUrlFrameSchema = z.strictObject({
  action: z.literal('uploadUrl'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
  contentType: attachmentContentTypeSchema,
  size: attachmentSizeSchema,
});

/** Asks for a presigned GET of an attachment of the conversation. */
export const downloadUrlFrameSchema = z
  .strictObject({
    action: z.literal('downloadUrl'),
    requestId: requestIdSchema,
    conversationId: conversationIdSchema,
    key: attachmentKeySchema,
  })
  .refine((frame) => isKeyOf(frame.conversationId, frame.key), {
    message: "must be a key of this conversation's attachments",
    path: ['key'],
  });

export const subscribeFrameSchema = z.strictObject({
  action: z.literal('subscribe'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
  afterSeq: seqSchema.optional(),
});

export const unsubscribeFrameSchema = z.strictObject({
  action: z.literal('unsubscribe'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
});

export const historyFrameSchema = z.strictObject({
  action: z.literal('history'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
  beforeSeq: seqSchema.min(1).optional(),
  limit: z.number().int().min(1).max(LIMITS.maxPageSize).optional(),
});

const membersSchema = z
  .array(userIdSchema)
  .min(1)
  // The group size limit is checked where the group is known, and answered with limit_exceeded.
  .refine((members) => new Set(members).size === members.length, { message: 'must not repeat a member' });

export const createConversationFrameSchema = z.strictObject({
  action: z.literal('createConversation'),
  requestId: requestIdSchema,
  members: membersSchema,
  /** One conversation per pair of users: `members` names the other one; asking again returns the same one. */
  direct: z.boolean().optional(),
  title: z
    .string()
    .min(1)
    .max(LIMITS.maxTitleLength)
    .refine(isWellFormedUnicode, 'must be well-formed Unicode')
    .optional(),
});

export const addMembersFrameSchema = z.strictObject({
  action: z.literal('addMembers'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
  members: membersSchema,
});

/** Moves the caller's read cursor forward to `seq` (never back). */
export const readFrameSchema = z.strictObject({
  action: z.literal('read'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
  seq: seqSchema.min(1),
});

/**
 * Where a page of the conversation list starts: the `nextCursor` of the page before, which names the
 * last entry it held (its activity time and id, the list's sort key).
 */
export const conversationCursorSchema = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\|[A-Za-z0-9_-]{1,64}$/,
    'must be a nextCursor from listConversations',
  );

export const listConversationsFrameSchema = z.strictObject({
  action: z.literal('listConversations'),
  requestId: requestIdSchema,
  limit: z.number().int().min(1).max(LIMITS.maxPageSize).optional(),
  cursor: conversationCursorSchema.optional(),
});

/** Replaces the body of the caller's own message at `seq`; the body is checked as for `send`. */
export const editFrameSchema = z.strictObject({
  action: z.literal('edit'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
  seq: seqSchema.min(1),
  body: sendFrameSchema.shape.body,
});

/** Deletes the caller's own message at `seq`: its body is removed and the seq stays, marked deleted. */
export const deleteFrameSchema = z.strictObject({
  action: z.literal('delete'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
  seq: seqSchema.min(1),
});

/**
 * Removes another member (only the conversation's creator or an admin may) or oneself (anyone: the same
 * as `leave`). Direct conversations refuse it.
 */
export const removeMemberFrameSchema = z.strictObject({
  action: z.literal('removeMember'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
  userId: userIdSchema,
});

/** The caller leaves the conversation (any member; not a direct conversation). */
export const leaveFrameSchema = z.strictObject({
  action: z.literal('leave'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
});

/** A keepalive: answered with an ack and nothing else, so a quiet client stays inside the idle timeout. */
export const pingFrameSchema = z.strictObject({
  action: z.literal('ping'),
  requestId: requestIdSchema,
});

/** "I am typing" in a conversation: ephemeral, throttled per user, never stored, never queued. */
export const typingFrameSchema = z.strictObject({
  action: z.literal('typing'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
});

/** Which members of a conversation are online now (have at least one live connection). */
export const presenceFrameSchema = z.strictObject({
  action: z.literal('presence'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
});

export type SendFrame = z.infer<typeof sendFrameSchema>;
export type SubscribeFrame = z.infer<typeof subscribeFrameSchema>;
export type UnsubscribeFrame = z.infer<typeof unsubscribeFrameSchema>;
export type HistoryFrame = z.infer<typeof historyFrameSchema>;
export type CreateConversationFrame = z.infer<typeof createConversationFrameSchema>;
export type AddMembersFrame = z.infer<typeof addMembersFrameSchema>;
export type ListConversationsFrame = z.infer<typeof listConversationsFrameSchema>;
export type ReadFrame = z.infer<typeof readFrameSchema>;
export type TypingFrame = z.infer<typeof typingFrameSchema>;
export type PresenceFrame = z.infer<typeof presenceFrameSchema>;
export type EditFrame = z.infer<typeof editFrameSchema>;
export type UploadUrlFrame = z.infer<typeof uploadUrlFrameSchema>;
export type DownloadUrlFrame = z.infer<typeof downloadUrlFrameSchema>;
export type DeleteFrame = z.infer<typeof deleteFrameSchema>;
export type RemoveMemberFrame = z.infer<typeof removeMemberFrameSchema>;
export type LeaveFrame = z.infer<typeof leaveFrameSchema>;

/** A stored chat message, as pushed to clients and as carried on the fan-out queue. */
export const chatMessageSchema = z.strictObject({
  conversationId: conversationIdSchema,
  seq: seqSchema.min(1),
  senderId: userIdSchema,
  body: z.string(),
  sentAt: z.string(),
  /** Set once the sender edited the message; `body` is then the latest version. */
  editedAt: z.string().optional(),
  /** Bumped by every edit or delete (absent = 0); clients keep the highest version of a seq. */
  version: z.number().int().min(0).optional(),
  /** The file the message carries; members fetch it with `downloadUrl`. */
  attachment: attachmentSchema.optional(),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;

/**
 * A seq whose writer died between reserving it and storing its message, filled so that every seq in
 * 1..lastSeq resolves to exactly one item. Clients skip it. It never carries a body or a sender.
 */
export interface Tombstone {
  conversationId: string;
  seq: number;
  tombstone: true;
}

/**
 * A message its sender deleted: the seq stays, the body is gone. It is also a tombstone, so clients
 * that skip tombstones skip it; `deleted: true` tells it from a dead writer's seq.
 */
export interface DeletedMessage extends Tombstone {
  deleted: true;
  senderId: string;
  deletedAt: string;
  version: number;
}

/** What changed in a conversation's membership: who was added, removed by someone else, or left. */
export const MEMBERSHIP_KINDS = ['member_added', 'member_removed', 'member_left'] as const;
export type MembershipKind = (typeof MEMBERSHIP_KINDS)[number];

/**
 * A membership change as a page shows it: it takes a seq like a message, in the conversation's order.
 * It is also a tombstone, so clients that only skip tombstones skip it; `kind` says what happened.
 */
export interface MembershipEntry extends Tombstone {
  kind: MembershipKind;
  /** Who was added, removed or left. */
  userIds: string[];
  /** Who did it (for `member_left`, the one who left). */
  by: string;
  at: string;
}

/**
 * One entry of a backlog or history page: a message, or a tombstone to skip (a deleted message and a
 * membership change are ones).
 */
export type StoredEntry = ChatMessage | Tombstone | DeletedMessage | MembershipEntry;

export const isTombstone = (entry: StoredEntry): entry is Tombstone => 'tombstone' in entry;

/**
 * Server → client push to a member's connections that are not subscribed to the conversation: a new
 * message arrived there, so a conversation list can move it up and bump its unread count
 * (unread = seq − read cursor) without subscribing to every conversation.
 */
export interface ActivityFrame extends MessagePreview {
  type: 'activity';
  conversationId: string;
  seq: number;
  senderId: string;
  sentAt: string;
}

/** Server → client push of one message. Clients dedupe by (conversationId, seq). */
export interface MessageFrame extends ChatMessage {
  type: 'message';
}

/** Server → client push: the message at `seq` now has this body (keep it only if `version` is newer). */
export interface EditedFrame {
  type: 'edited';
  conversationId: string;
  seq: number;
  body: string;
  editedAt: string;
  version: number;
}

/** Server → client push: the message at `seq` was deleted by its sender (its highest version). */
export interface DeletedFrame {
  type: 'deleted';
  conversationId: string;
  seq: number;
  deletedAt: string;
  version: number;
}

/** Server → client push of a membership change, in seq order with the messages (see MembershipEntry). */
export interface MembershipFrame {
  type: 'membership';
  conversationId: string;
  seq: number;
  event: MembershipKind;
  userIds: string[];
  by: string;
  at: string;
}

export interface ErrorFrame {
  type: 'error';
  requestId?: string;
  code: ErrorCode;
  message: string;
  retryable: boolean;
  /** With retryable errors that ask for a pause: wait this long before resending. */
  retryAfterMs?: number;
}

/** The ack payload of `send`. A duplicate (a resend) carries the seq and sentAt of the original message. */
export interface SendAck {
  conversationId: string;
  seq: number;
  sentAt: string;
  duplicate: boolean;
}

/**
 * The ack payload of `edit` and `delete`: the version now stored. `duplicate` means nothing changed (the
 * same body again, or deleted already) and the event was enqueued again, so a lost fan-out is repaired.
 * `editedAt` is absent when a never-edited message is "edited" to its own body.
 */
export interface EditAck {
  conversationId: string;
  seq: number;
  version: number;
  editedAt?: string;
  duplicate: boolean;
}

export interface DeleteAck {
  conversationId: string;
  seq: number;
  version: number;
  deletedAt: string;
  duplicate: boolean;
}

/**
 * The ack payload of `removeMember` and `leave`. `removed: false` means the user was not a member (a
 * resend, or never one): nothing changed and no event was recorded. `seq` is the change's seq.
 */
export interface MembershipChangeAck {
  conversationId: string;
  userId: string;
  removed: boolean;
  seq?: number;
}

/** A conversation as `createConversation` returns it. */
export interface ConversationSummary {
  conversationId: string;
  title?: string;
  /** Set on the one conversation of a pair of users. */
  direct?: true;
  members: string[];
  createdBy: string;
  createdAt: string;
  lastSeq: number;
}

/** One entry of the `listConversations` ack, newest activity first. */
export interface ConversationListEntry {
  conversationId: string;
  title?: string;
  /** A direct conversation lists its two members (it has no title). */
  direct?: true;
  members?: string[];
  /** The caller's read cursor, and how many seqs lie after it (lastSeq − readSeq). */
  readSeq: number;
  unread: number;
  createdBy: string;
  createdAt: string;
  lastSeq: number;
  /** When the newest seq was reserved, or the creation time of a conversation without messages. */
  lastActivityAt: string;
  /**
   * What the newest seq holds, for the list's preview line; absent without messages, and while the
   * newest seq is a dead writer's tombstone or still being stored.
   */
  last?: LastEntry;
}

/** The newest entry of a conversation as the list shows it: a message's first characters, or what happened. */
export type LastEntry =
  | (MessagePreview & { kind: 'message'; seq: number; senderId: string; sentAt: string; edited?: true })
  | { kind: 'deleted'; seq: number; senderId: string; deletedAt: string }
  | { kind: MembershipKind; seq: number; userIds: string[]; by: string; at: string };

/** What a list line shows of a message: its body's start, and the type of its file if it has one. */
export interface MessagePreview {
  /** The body's first LIMITS.previewChars code points (never half of a surrogate pair). */
  preview: string;
  /** The body goes on past the preview. */
  truncated?: true;
  attachment?: { contentType: string };
}

export function messagePreview(message: Pick<ChatMessage, 'body' | 'attachment'>): MessagePreview {
  const codePoints = Array.from(message.body);
  return {
    preview: codePoints.slice(0, LIMITS.previewChars).join(''),
    ...(codePoints.length > LIMITS.previewChars ? { truncated: true as const } : {}),
    ...(message.attachment === undefined
      ? {}
      : { attachment: { contentType: message.attachment.contentType } }),
  };
}

/** The ack payload of `listConversations`. */
export interface ConversationListPage {
  conversations: ConversationListEntry[];
  hasMore: boolean;
  /**
   * Pass it as `cursor` for the next page; present when `hasMore`. A conversation that gets new activity
   * meanwhile moves ahead of the cursor, so a pass through the pages can miss it: read the first page
   * again after paging.
   */
  nextCursor?: string;
}

/**
 * The ack of `subscribe` (a backlog page after `afterSeq`) and of `history` (a page before `beforeSeq`):
 * ascending entries, tombstones included, and the conversation's counter when it was read.
 */
export interface MessagesPage {
  conversationId: string;
  messages: StoredEntry[];
  hasMore: boolean;
  lastSeq: number;
}

/**
 * The ack of `uploadUrl`: PUT the file's bytes to `url` with exactly `headers` before `expiresAt`, then
 * send a message with `attachment: {key, contentType, size}`.
 */
export interface UploadUrlAck {
  url: string;
  key: string;
  method: 'PUT';
  headers: { 'content-type': string; 'content-length': string };
  expiresAt: string;
}

/** The ack of `downloadUrl`: GET `url` before `expiresAt`. */
export interface DownloadUrlAck {
  url: string;
  expiresAt: string;
}

export interface AckFrame {
  type: 'ack';
  action: string;
  requestId?: string;
  [key: string]: unknown;
}

/** Server → client push: a member is typing in a conversation. Never stored; may be lost. */
export interface TypingEvent {
  type: 'typing';
  conversationId: string;
  userId: string;
}

/** Server → client push: a user came online (first connection) or went offline (last one closed). */
export interface PresenceEvent {
  type: 'presence';
  userId: string;
  online: boolean;
}

/**
 * Server → client push: a member's read cursor moved to `seq`. Ephemeral (never stored, never queued)
 * and only in conversations of at most LIMITS.maxReadEventMembers members.
 */
export interface ReadEvent {
  type: 'read';
  conversationId: string;
  userId: string;
  seq: number;
}

/** The ack payload of `typing`: `throttled` means it came within the throttle window and went nowhere. */
export interface TypingAck {
  conversationId: string;
  throttled: boolean;
}

/** One member's read cursor: every seq up to `readSeq` is read by `userId` (0: nothing yet). */
export interface MemberReadSeq {
  userId: string;
  readSeq: number;
}

/** The ack payload of `presence`: the members with at least one live connection, in member order. */
export interface PresenceAck {
  conversationId: string;
  online: string[];
  /**
   * Every member's read cursor, in member order, so "seen by" survives a reload; only in conversations
   * of at most LIMITS.maxReadEventMembers members (the same rule as `read` pushes), absent above.
   */
  readSeqs?: MemberReadSeq[];
}

export type ServerFrame =
  | MessageFrame
  | ActivityFrame
  | EditedFrame
  | DeletedFrame
  | MembershipFrame
  | TypingEvent
  | ReadEvent
  | PresenceEvent
  | ErrorFrame
  | AckFrame;

/** Turns a stored message into the frame pushed to subscribers. */
export function toMessageFrame(message: ChatMessage): MessageFrame {
  return { type: 'message', ...message };
}
