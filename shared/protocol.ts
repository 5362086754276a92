/**
 * The wire protocol: every frame a client may send (validated with zod) and every frame the server
 * sends back or pushes. README "Protocol" documents the same shapes for humans.
 */
import { z } from 'zod';
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

export const sendFrameSchema = z.strictObject({
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

export const listConversationsFrameSchema = z.strictObject({
  action: z.literal('listConversations'),
  requestId: requestIdSchema,
  limit: z.number().int().min(1).max(LIMITS.maxPageSize).optional(),
});

/** A keepalive: answered with an ack and nothing else, so a quiet client stays inside the idle timeout. */
export const pingFrameSchema = z.strictObject({
  action: z.literal('ping'),
  requestId: requestIdSchema,
});

export type SendFrame = z.infer<typeof sendFrameSchema>;
export type SubscribeFrame = z.infer<typeof subscribeFrameSchema>;
export type UnsubscribeFrame = z.infer<typeof unsubscribeFrameSchema>;
export type HistoryFrame = z.infer<typeof historyFrameSchema>;
export type CreateConversationFrame = z.infer<typeof createConversationFrameSchema>;
export type AddMembersFrame = z.infer<typeof addMembersFrameSchema>;
export type ListConversationsFrame = z.infer<typeof listConversationsFrameSchema>;
export type ReadFrame = z.infer<typeof readFrameSchema>;

/** A stored chat message, as pushed to clients and as carried on the fan-out queue. */
export const chatMessageSchema = z.strictObject({
  conversationId: conversationIdSchema,
  seq: seqSchema.min(1),
  senderId: userIdSchema,
  body: z.string(),
  sentAt: z.string(),
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

/** One entry of a backlog or history page: a message, or a tombstone to skip. */
export type StoredEntry = ChatMessage | Tombstone;

export const isTombstone = (entry: StoredEntry): entry is Tombstone => 'tombstone' in entry;

/** Server → client push of one message. Clients dedupe by (conversationId, seq). */
export interface MessageFrame extends ChatMessage {
  type: 'message';
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

export interface AckFrame {
  type: 'ack';
  action: string;
  requestId?: string;
  [key: string]: unknown;
}

export type ServerFrame = MessageFrame | ErrorFrame | AckFrame;

/** Turns a stored message into the frame pushed to subscribers. */
export function toMessageFrame(message: ChatMessage): MessageFrame {
  return { type: 'message', ...message };
}
