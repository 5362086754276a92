/**
 * What a fan-out record carries (a message, an edit, a delete or a membership change) and how its body is written so that
 * SQS can never refuse it. SQS accepts only #x9, #xA, #xD, #x20–#xD7FF, #xE000–#xFFFD
 * and #x10000–#x10FFFF in a message body, so a chat body holding U+FFFE, U+FFFF or a NUL would be stored
 * and then never enqueued (and emulators such as fauxqs also refuse everything above U+FFFF). JSON
 * with every character outside printable ASCII written as a `\uXXXX` escape is plain ASCII, which every
 * SQS accepts, and `JSON.parse` reads it back to the identical string. The cost is size: at most 6 bytes
 * per UTF-16 unit, so a 16 KiB body stays far under SQS's 256 KiB.
 */

import {
  type ChatMessage,
  chatMessageSchema,
  conversationIdSchema,
  MEMBERSHIP_KINDS,
  userIdSchema,
} from './protocol';
import * as z from './protocol/zod';

const OUTSIDE_PRINTABLE_ASCII = /[^\x20-\x7e]/g;

const escapeUnit = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** JSON of `value` in printable ASCII only; `JSON.parse` returns an equal value. */
export function encodeQueueBody(value: unknown): string {
  return JSON.stringify(value).replace(OUTSIDE_PRINTABLE_ASCII, escapeUnit);
}

/** An edit on the fan-out queue: the message at `seq` now has `body`, as of `version`. */
export const editEventSchema = z.strictObject({
  kind: z.literal('edit'),
  conversationId: conversationIdSchema,
  seq: z.number().check(z.int(), z.minimum(1)),
  body: z.string(),
  editedAt: z.string(),
  version: z.number().check(z.int(), z.minimum(1)),
});
export type EditEvent = z.infer<typeof editEventSchema>;

/** A delete on the fan-out queue: the message at `seq` is gone, as of `version`. */
export const deleteEventSchema = z.strictObject({
  kind: z.literal('delete'),
  conversationId: conversationIdSchema,
  seq: z.number().check(z.int(), z.minimum(1)),
  deletedAt: z.string(),
  version: z.number().check(z.int(), z.minimum(1)),
});
export type DeleteEvent = z.infer<typeof deleteEventSchema>;

/** A membership change on the fan-out queue: it holds `seq` in the conversation's order. */
export const membershipEventSchema = z.strictObject({
  kind: z.literal('membership'),
  conversationId: conversationIdSchema,
  seq: z.number().check(z.int(), z.minimum(1)),
  event: z.enum(MEMBERSHIP_KINDS),
  userIds: z.array(userIdSchema).check(z.minLength(1)),
  by: userIdSchema,
  at: z.string(),
});
export type MembershipEvent = z.infer<typeof membershipEventSchema>;

/**
 * A message on the fan-out queue: the ChatMessage, and the connection that sent it, which has the message
 * from its ack and is not pushed it (the sender's other connections are). A record without
 * `senderConnectionId` (queued before it was kept) is pushed to every subscriber. A room's message also
 * carries `viewers`, the room's member count as its seq was reserved, which its push carries on.
 */
export const messageRecordSchema = z.extend(chatMessageSchema, {
  senderConnectionId: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
  viewers: z.optional(z.number().check(z.int(), z.minimum(0))),
});
export type MessageRecord = z.infer<typeof messageRecordSchema>;

/**
 * What one fan-out record carries. A message is a bare ChatMessage (plus `senderConnectionId`, `viewers`)
 * with no `kind`, as before edits existed, so records already queued keep working; an event says what it
 * is in `kind`. A fan-out must be deployed before a send function that writes `senderConnectionId` or
 * `viewers`: an older one reads the field as poison.
 */
export type QueueRecord = MessageRecord | EditEvent | DeleteEvent | MembershipEvent;

/** The message a message record carries (with a room's `viewers`), without what only the fan-out needs. */
export function messageOf(record: MessageRecord): ChatMessage & Pick<MessageRecord, 'viewers'> {
  const { senderConnectionId: _, ...message } = record;
  return message;
}

const RECORD_KINDS: Record<string, z.ZodMiniType<EditEvent | DeleteEvent | MembershipEvent>> = {
  edit: editEventSchema,
  delete: deleteEventSchema,
  membership: membershipEventSchema,
};

export type ParsedQueueBody = { ok: true; record: QueueRecord } | { ok: false; reason: string };

/** Parses a record body; a failure is permanent (the body can never become valid), so the reason says why. */
export function parseQueueBody(body: string): ParsedQueueBody {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'body is not valid JSON' };
  }
  const kind = typeof json === 'object' && json !== null && 'kind' in json ? json.kind : undefined;
  const schema =
    kind === undefined
      ? messageRecordSchema
      : typeof kind === 'string' && Object.hasOwn(RECORD_KINDS, kind)
        ? RECORD_KINDS[kind]
        : undefined;
  if (schema === undefined)
    return { ok: false, reason: `unknown record kind ${JSON.stringify(kind).slice(0, 64)}` };
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, record: result.data };
  const issues = result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
  const what = kind === undefined ? 'a ChatMessage' : `a ${String(kind).slice(0, 32)} event`;
  return { ok: false, reason: `body is not ${what} (${issues.join('; ')})` };
}
