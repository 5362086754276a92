/** What the server answers a request with: the ack frame, and the payload each action puts in it. */
import type { Attachment } from '../attachments';
import type { MembershipKind, MessagePreview, StoredEntry } from './entries';
import type { WhoCanAdd } from './frames';

/**
 * The ack payload of `send`. A duplicate (a resend) carries the seq and sentAt of the original message.
 * With the frame's body and attachment it is the whole message, as pushed to others: the connection that
 * sent it is not pushed its own message, so a client puts it in its stream from the ack.
 */
export interface SendAck {
  conversationId: string;
  seq: number;
  sentAt: string;
  /** The sender, as every member's copy names them. */
  senderId: string;
  duplicate: boolean;
  /** In a room, unless `duplicate`: its member count (the viewer count) as this message took its seq. */
  viewers?: number;
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

/**
 * The ack payload of `promote`. `promoted: false` means the user was an admin already (a resend, or the
 * successor of a leaving admin): nothing changed. `seq` is the `member_promoted` change's seq.
 */
export interface PromoteAck {
  conversationId: string;
  userId: string;
  promoted: boolean;
  seq?: number;
}

/** The ack payload of `block` and `unblock`: the user's state on the list now, and whether this frame changed it. */
export interface BlockAck {
  userId: string;
  blocked: boolean;
  changed: boolean;
}

/** The ack payload of `listBlocked`: the users the caller blocks, sorted, and who may add them to a group. */
export interface BlockedListAck {
  userIds: string[];
  whoCanAdd: WhoCanAdd;
}

/** The ack payload of `setWhoCanAdd`: the setting now. */
export interface WhoCanAddAck {
  whoCanAdd: WhoCanAdd;
}

/** A pending invitation to a group: who invited the caller, when, and the group's title if it has one. */
export interface Invitation {
  conversationId: string;
  invitedBy: string;
  invitedAt: string;
  title?: string;
}

/** The ack payload of `listInvitations`: the caller's pending invitations, newest first. */
export interface InvitationsAck {
  invitations: Invitation[];
}

/**
 * The ack payload of `accept` and `decline`. `accept`: `joined` is true when the caller became a member
 * (`seq` is the `member_added` change's seq); `decline`: `declined` says whether there was an invitation.
 */
export interface InvitationAnswerAck {
  conversationId: string;
  joined?: boolean;
  declined?: boolean;
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
  /**
   * On the answer to `createConversation` only: the users invited rather than added (their `whoCanAdd`
   * does not admit the creator), who are not in `members`; absent when none.
   */
  invited?: string[];
}

/** Members an untitled group's list entry names: enough for three besides the caller ("a, b, c and 2 others"). */
export const LIST_ENTRY_MEMBERS = 4;

/** One entry of the `listConversations` ack (a page comes in conversation id order; clients sort by `lastActivityAt`). */
export interface ConversationListEntry {
  conversationId: string;
  title?: string;
  /** A direct conversation lists its two members (it has no title). */
  direct?: true;
  /** Set on a room (shared/protocol/rooms.ts): `memberCount` is then its viewer count, and `members` absent. */
  kind?: 'room';
  /**
   * Who to name it after, when it has no title (see `conversationName` in the SDK): a direct
   * conversation's two members; an untitled group's members in id order, the first
   * {@link LIST_ENTRY_MEMBERS} of them (all when `memberCount` is not larger). Absent for a titled group.
   */
  members?: string[];
  /** How many members it has. */
  memberCount: number;
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
/**
 * The ack payload of `listConversations`: a page of the caller's conversations in conversation id order
 * (the order a page can be read in at the cost of the page); a client shows them by `lastActivityAt`,
 * after reading every page (LIMITS.maxConversationsPerUser bounds how many there are).
 */
export interface ConversationListPage {
  conversations: ConversationListEntry[];
  /** The index may hold more: a last page can come back empty. */
  hasMore: boolean;
  /** Pass it as `cursor` for the next page; present when `hasMore`. */
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
  /** In a room's `subscribe` ack: its member count (the viewer count), read with `lastSeq` at no extra cost. */
  memberCount?: number;
}

/**
 * The ack of `uploadUrl`: POST a form to `url` before `expiresAt` with `fields` (in this order) and the
 * file last (as the `file` field); the signed policy holds S3 to this key, type and exact size. Then
 * `confirmUpload` the key.
 */
export interface UploadUrlAck {
  url: string;
  /** The upload key, under `uploads/<conversationId>/`; no message may name it before confirmUpload. */
  key: string;
  method: 'POST';
  fields: Record<string, string>;
  expiresAt: string;
}

/** The ack of `confirmUpload`: the attachment a message may now carry (key under `conversations/`). */
export interface ConfirmUploadAck {
  attachment: Attachment;
}

/**
 * The ack of `downloadUrl`: GET `url` before `expiresAt`. S3 answers with the verified `contentType`
 * and a `Content-Disposition` the URL's signature covers: `inline` for images, `attachment` otherwise.
 */
export interface DownloadUrlAck {
  url: string;
  expiresAt: string;
  contentType: string;
  disposition: 'inline' | 'attachment';
}

export interface AckFrame {
  type: 'ack';
  action: string;
  requestId?: string;
  [key: string]: unknown;
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

/** The ack payload of `createConversation`, also when a direct conversation already existed. */
export interface CreateConversationAck {
  conversation: ConversationSummary;
}

/** The ack payload of `addMembers`: who was added (not who already was), and the change's seq if any. */
export interface AddMembersAck {
  conversationId: string;
  added: string[];
  /** The users invited rather than added (their `whoCanAdd` does not admit the caller); absent when none. */
  invited?: string[];
  /** Present when someone was added and the handler records membership changes in the conversation's order. */
  seq?: number;
}

/** The ack payload of `read`: the caller's read cursor now, and whether this frame moved it. */
export interface ReadAck {
  conversationId: string;
  readSeq: number;
  moved: boolean;
}

/** The ack payload of `unsubscribe` (idempotent: also when there was no subscription). */
export interface UnsubscribeAck {
  conversationId: string;
}

/** The ack payload of `ping`: nothing but the ack itself. */
export type PingAck = Record<string, never>;
