/**
 * What a conversation stores at each seq, as pages and pushes carry it: a message, or a tombstone to skip
 * (a dead writer's seq, a deleted message, a membership change).
 */

import { attachmentSchema } from '../attachments';
import { LIMITS } from '../limits';
import { conversationIdSchema, seqSchema, userIdSchema } from './fields';
import * as z from './zod';

/** A stored chat message, as pushed to clients and as carried on the fan-out queue. */
export const chatMessageSchema = z.strictObject({
  conversationId: conversationIdSchema,
  seq: seqSchema.check(z.minimum(1)),
  senderId: userIdSchema,
  body: z.string(),
  sentAt: z.string(),
  /** Set once the sender edited the message; `body` is then the latest version. */
  editedAt: z.optional(z.string()),
  /** Bumped by every edit or delete (absent = 0); clients keep the highest version of a seq. */
  version: z.optional(z.number().check(z.int(), z.minimum(0))),
  /** The file the message carries; members fetch it with `downloadUrl`. */
  attachment: z.optional(attachmentSchema),
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

/**
 * What changed in a conversation's membership: who was added, removed by someone else, left, or was made
 * an admin (by an admin, or as the successor of the last admin, who left). A client that does not know a
 * kind skips it like any tombstone.
 */
export const MEMBERSHIP_KINDS = ['member_added', 'member_removed', 'member_left', 'member_promoted'] as const;
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
