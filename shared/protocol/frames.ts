/** Every frame a client may send, as the zod schema that validates it and the type it parses to. */

import {
  attachmentContentTypeSchema,
  attachmentKeySchema,
  attachmentSchema,
  attachmentSizeSchema,
  isKeyOf,
  isUploadKeyOf,
  uploadKeySchema,
} from '../attachments';
import { LIMITS } from '../limits';
import {
  clientMessageIdSchema,
  conversationIdSchema,
  isWellFormedUnicode,
  requestIdSchema,
  seqSchema,
  userIdSchema,
} from './fields';
import * as z from './zod';

const utf8Bytes = (value: string): number => Buffer.byteLength(value, 'utf8');

/** Marks a schema issue that means "too large", so it maps to `payload_too_large`, not `invalid_request`. */
const tooLarge = (limitBytes: number) => ({ payloadTooLargeLimit: limitBytes });

/**
 * A client frame of `action`: its literal `action` and optional `requestId`, then the frame's own fields,
 * and nothing else (a strict object, so an unknown field is refused).
 */
export const frameOf = <A extends string, F extends z.core.$ZodShape>(action: A, fields: F) =>
  z.strictObject({ action: z.literal(action), requestId: requestIdSchema, ...fields });
export const sendFrameSchema = z
  .strictObject({
    action: z.literal('send'),
    requestId: requestIdSchema,
    conversationId: conversationIdSchema,
    clientMessageId: clientMessageIdSchema,
    body: z.string().check(
      z.minLength(1, 'must not be empty'),
      z.refine(isWellFormedUnicode, 'must be well-formed Unicode (it has a lone surrogate)'),
      z.refine((body) => utf8Bytes(body) <= LIMITS.maxBodyBytes, {
        message: `must be at most ${LIMITS.maxBodyBytes} bytes of UTF-8`,
        params: tooLarge(LIMITS.maxBodyBytes),
      }),
    ),
    /** A file uploaded through `uploadUrl` into this conversation; its key must be under its prefix. */
    attachment: z.optional(attachmentSchema),
  })
  .check(
    z.refine(
      (frame) => frame.attachment === undefined || isKeyOf(frame.conversationId, frame.attachment.key),
      { message: "must be a key of this conversation's attachments", path: ['attachment', 'key'] },
    ),
  );

/** Asks for a presigned POST of one attachment of `contentType` and exactly `size` bytes. */
export const uploadUrlFrameSchema = frameOf('uploadUrl', {
  conversationId: conversationIdSchema,
  contentType: attachmentContentTypeSchema,
  size: attachmentSizeSchema,
});

/**
 * Asks the server to check an upload (its size, type and first bytes) and make it an attachment a
 * message may name.
 */
export const confirmUploadFrameSchema = z
  .strictObject({
    action: z.literal('confirmUpload'),
    requestId: requestIdSchema,
    conversationId: conversationIdSchema,
    key: uploadKeySchema,
  })
  .check(
    z.refine((frame) => isUploadKeyOf(frame.conversationId, frame.key), {
      message: "must be a key of this conversation's uploads",
      path: ['key'],
    }),
  );

/** Asks for a presigned GET of an attachment of the conversation. */
export const downloadUrlFrameSchema = z
  .strictObject({
    action: z.literal('downloadUrl'),
    requestId: requestIdSchema,
    conversationId: conversationIdSchema,
    key: attachmentKeySchema,
  })
  .check(
    z.refine((frame) => isKeyOf(frame.conversationId, frame.key), {
      message: "must be a key of this conversation's attachments",
      path: ['key'],
    }),
  );

export const subscribeFrameSchema = frameOf('subscribe', {
  conversationId: conversationIdSchema,
  afterSeq: z.optional(seqSchema),
});

export const unsubscribeFrameSchema = frameOf('unsubscribe', {
  conversationId: conversationIdSchema,
});

export const historyFrameSchema = frameOf('history', {
  conversationId: conversationIdSchema,
  beforeSeq: z.optional(seqSchema.check(z.minimum(1))),
  limit: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(LIMITS.maxPageSize))),
});

const membersSchema = z.array(userIdSchema).check(
  z.minLength(1),
  // The group size limit is checked where the group is known, and answered with limit_exceeded.
  z.refine((members) => new Set(members).size === members.length, { message: 'must not repeat a member' }),
);

export const createConversationFrameSchema = frameOf('createConversation', {
  members: membersSchema,
  /** One conversation per pair of users: `members` names the other one; asking again returns the same one. */
  direct: z.optional(z.boolean()),
  title: z.optional(
    z
      .string()
      .check(
        z.minLength(1),
        z.maxLength(LIMITS.maxTitleLength),
        z.refine(isWellFormedUnicode, 'must be well-formed Unicode'),
      ),
  ),
});

export const addMembersFrameSchema = frameOf('addMembers', {
  conversationId: conversationIdSchema,
  members: membersSchema,
});

/** Moves the caller's read cursor forward to `seq` (never back). */
export const readFrameSchema = frameOf('read', {
  conversationId: conversationIdSchema,
  seq: seqSchema.check(z.minimum(1)),
});

/**
 * Where a page of the conversation list starts: the `nextCursor` of the page before, which names the
 * last conversation it held (the list is in conversation id order, the byMember index's).
 */
export const conversationCursorSchema = z
  .string()
  .check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a nextCursor from listConversations'));

export const listConversationsFrameSchema = frameOf('listConversations', {
  limit: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(LIMITS.maxPageSize))),
  cursor: z.optional(conversationCursorSchema),
});

/** Replaces the body of the caller's own message at `seq`; the body is checked as for `send`. */
export const editFrameSchema = frameOf('edit', {
  conversationId: conversationIdSchema,
  seq: seqSchema.check(z.minimum(1)),
  body: sendFrameSchema.shape.body,
});

/** Deletes the caller's own message at `seq`: its body is removed and the seq stays, marked deleted. */
export const deleteFrameSchema = frameOf('delete', {
  conversationId: conversationIdSchema,
  seq: seqSchema.check(z.minimum(1)),
});

/**
 * Removes another member (only the conversation's creator or an admin may) or oneself (anyone: the same
 * as `leave`). Direct conversations refuse it.
 */
export const removeMemberFrameSchema = frameOf('removeMember', {
  conversationId: conversationIdSchema,
  userId: userIdSchema,
});

/** Makes a member an admin (only an admin may; not in a direct conversation). */
export const promoteFrameSchema = frameOf('promote', {
  conversationId: conversationIdSchema,
  userId: userIdSchema,
});

/**
 * Puts a user on the caller's block list: they can no longer open a direct conversation with the caller
 * nor add them to a group.
 */
export const blockFrameSchema = frameOf('block', {
  userId: userIdSchema,
});

/** Takes a user off the caller's block list. */
export const unblockFrameSchema = frameOf('unblock', {
  userId: userIdSchema,
});

/** The caller's block list, and who may add them to a group. */
export const listBlockedFrameSchema = frameOf('listBlocked', {});

/**
 * Who may add the caller to a group straight away: `anyone`, `contacts` (people they share a group
 * with) or `nobody`. Anyone else's add becomes an invitation the caller accepts or declines.
 */
export const whoCanAddSchema = z.enum(['anyone', 'contacts', 'nobody']);
export type WhoCanAdd = z.infer<typeof whoCanAddSchema>;

export const setWhoCanAddFrameSchema = frameOf('setWhoCanAdd', {
  whoCanAdd: whoCanAddSchema,
});

/** The caller's pending invitations to groups. */
export const listInvitationsFrameSchema = frameOf('listInvitations', {});

/** Accepts the caller's invitation to a group: they become a member, with its history. */
export const acceptFrameSchema = frameOf('accept', {
  conversationId: conversationIdSchema,
});

/** Declines the caller's invitation to a group: it is forgotten, and the group learns nothing. */
export const declineFrameSchema = frameOf('decline', {
  conversationId: conversationIdSchema,
});

/** The caller leaves the conversation (any member; not a direct conversation). */
export const leaveFrameSchema = frameOf('leave', {
  conversationId: conversationIdSchema,
});

/** A keepalive: answered with an ack and nothing else, so a quiet client stays inside the idle timeout. */
export const pingFrameSchema = frameOf('ping', {});

/** "I am typing" in a conversation: ephemeral, throttled per user, never stored, never queued. */
export const typingFrameSchema = frameOf('typing', {
  conversationId: conversationIdSchema,
});

/** Which members of a conversation are online now (have at least one live connection). */
export const presenceFrameSchema = frameOf('presence', {
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
export type ConfirmUploadFrame = z.infer<typeof confirmUploadFrameSchema>;
export type DeleteFrame = z.infer<typeof deleteFrameSchema>;
export type RemoveMemberFrame = z.infer<typeof removeMemberFrameSchema>;
export type LeaveFrame = z.infer<typeof leaveFrameSchema>;
export type PromoteFrame = z.infer<typeof promoteFrameSchema>;
export type BlockFrame = z.infer<typeof blockFrameSchema>;
export type UnblockFrame = z.infer<typeof unblockFrameSchema>;
export type ListBlockedFrame = z.infer<typeof listBlockedFrameSchema>;
export type SetWhoCanAddFrame = z.infer<typeof setWhoCanAddFrameSchema>;
export type ListInvitationsFrame = z.infer<typeof listInvitationsFrameSchema>;
export type AcceptFrame = z.infer<typeof acceptFrameSchema>;
export type DeclineFrame = z.infer<typeof declineFrameSchema>;
