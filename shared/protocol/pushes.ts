/** Every frame the server sends: the pushes, and the union with the reply frames of a request. */
import type { AckFrame } from './acks';
import type { ChatMessage, MembershipKind, MessagePreview } from './entries';
import type { ErrorFrame } from './errors';

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
  /** In a room: its member count (the viewer count) as this message took its seq. */
  viewers?: number;
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

/**
 * Server → client push of a membership change, in seq order with the messages (see MembershipEntry), to
 * the conversation's listeners and to the users it names. A group's creation is told to the members it
 * added as `member_added` at seq 0: it takes no seq and is in no history (the first entry is seq 1).
 */
export interface MembershipFrame {
  type: 'membership';
  conversationId: string;
  seq: number;
  event: MembershipKind;
  userIds: string[];
  by: string;
  at: string;
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
/**
 * Server → client push to the connections of a user invited to a group (their `whoCanAdd` did not admit
 * the one who added them): they are no member until they `accept`. Older clients ignore it.
 */
export interface InvitationFrame {
  type: 'invitation';
  conversationId: string;
  invitedBy: string;
  invitedAt: string;
  title?: string;
}

/** The pushes that hold a place in a conversation's order, hence the ones a `batch` may carry. */
export type SequencedFrame = MessageFrame | EditedFrame | DeletedFrame | MembershipFrame;

/**
 * Server → client push of several sequenced pushes of one conversation in one post, in the order the
 * fan-out queue held them (seq order). A client handles each of `frames` as if it had arrived alone, in
 * turn. A batch holds at least two frames, stays within one 32 KB billing unit when it can and never
 * exceeds 128 KB (API Gateway's message limit); see lambdas/fanout/coalesce.ts.
 */
export interface BatchFrame {
  type: 'batch';
  conversationId: string;
  frames: SequencedFrame[];
}

export type ServerFrame =
  | BatchFrame
  | InvitationFrame
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
export function toMessageFrame(message: ChatMessage & Pick<MessageFrame, 'viewers'>): MessageFrame {
  return { type: 'message', ...message };
}
