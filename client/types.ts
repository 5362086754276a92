/**
 * The SDK's public types: what each action takes and answers, the errors it reports, and the few
 * platform pieces it needs (a WebSocket, a clock). Frame shapes come from shared/protocol.ts, so a
 * protocol change that the SDK does not follow fails the typecheck.
 */
import type { ErrorCode } from '../shared/errors';
import type {
  ActivityFrame,
  AddMembersFrame,
  ConversationSummary as Conversation,
  ConversationListPage,
  CreateConversationFrame,
  DeleteAck,
  DeleteFrame,
  DownloadUrlAck,
  DownloadUrlFrame,
  EditAck,
  EditFrame,
  HistoryFrame,
  LeaveFrame,
  ListConversationsFrame,
  MembershipChangeAck,
  MembershipKind,
  MessagesPage as Page,
  PresenceAck,
  PresenceFrame,
  ReadFrame,
  RemoveMemberFrame,
  SendAck,
  SendFrame,
  SubscribeFrame,
  TypingAck,
  TypingFrame,
  UnsubscribeFrame,
  UploadUrlAck,
  UploadUrlFrame,
} from '../shared/protocol';

/** The ack shapes are the server's own (shared/protocol.ts): a protocol change the SDK does not follow fails the typecheck. */
export type { Attachment, AttachmentContentType } from '../shared/attachments';
export type {
  ChatMessage,
  ConversationListEntry,
  ConversationListPage,
  ConversationSummary as Conversation,
  DeleteAck,
  DeletedMessage,
  DownloadUrlAck,
  EditAck,
  LastEntry,
  MemberReadSeq,
  MembershipChangeAck,
  MembershipEntry,
  MembershipKind,
  MessagesPage as Page,
  PresenceAck,
  SendAck,
  StoredEntry,
  Tombstone,
  TypingAck,
  UploadUrlAck,
} from '../shared/protocol';

type Fields<F> = Omit<F, 'action' | 'requestId'>;

/** Every action of the protocol: the fields it takes and the ack it answers with. */
export interface Actions {
  send: { fields: Fields<SendFrame>; ack: SendAck };
  subscribe: { fields: Fields<SubscribeFrame>; ack: Page };
  unsubscribe: { fields: Fields<UnsubscribeFrame>; ack: { conversationId: string } };
  history: { fields: Fields<HistoryFrame>; ack: Page };
  createConversation: { fields: Fields<CreateConversationFrame>; ack: { conversation: Conversation } };
  addMembers: { fields: Fields<AddMembersFrame>; ack: { conversationId: string; added: string[] } };
  listConversations: {
    fields: Fields<ListConversationsFrame>;
    ack: ConversationListPage;
  };
  read: { fields: Fields<ReadFrame>; ack: { conversationId: string; readSeq: number; moved: boolean } };
  edit: { fields: Fields<EditFrame>; ack: EditAck };
  delete: { fields: Fields<DeleteFrame>; ack: DeleteAck };
  typing: { fields: Fields<TypingFrame>; ack: TypingAck };
  presence: { fields: Fields<PresenceFrame>; ack: PresenceAck };
  uploadUrl: { fields: Fields<UploadUrlFrame>; ack: UploadUrlAck };
  downloadUrl: { fields: Fields<DownloadUrlFrame>; ack: DownloadUrlAck };
  removeMember: { fields: Fields<RemoveMemberFrame>; ack: MembershipChangeAck };
  leave: { fields: Fields<LeaveFrame>; ack: MembershipChangeAck };
}

/**
 * A new message in a conversation this connection does not subscribe to (an `activity` push; only in
 * conversations of at most 20 members): move it up the list, show `preview` (the body's first 100
 * code points; `truncated` when it goes on; `attachment` names a file's type), and its unread count
 * is `seq` minus your read cursor.
 */
export type ActivityEvent = Omit<ActivityFrame, 'type'>;

/** A member's read cursor moved to `seq` (a `read` push; only in conversations of at most 20 members). */
export interface ReadEvent {
  conversationId: string;
  userId: string;
  seq: number;
}

/**
 * A membership change, in seq order with the messages (a `membership` push, or a change entry of a
 * page): `userIds` were added, removed by `by`, or left.
 */
export interface MembershipEvent {
  conversationId: string;
  seq: number;
  kind: MembershipKind;
  userIds: string[];
  by: string;
  at: string;
}

/**
 * A newer version of a message the stream already delivered (an `edited` or `deleted` push): `body` is
 * the new body (empty once deleted). Older versions than the one delivered are never reported.
 */
export interface MessageUpdate {
  conversationId: string;
  seq: number;
  version: number;
  body: string;
  editedAt?: string;
  deleted: boolean;
  deletedAt?: string;
}

/** Someone (never this connection's user's own pushes) is typing in a conversation. */
export interface TypingEvent {
  conversationId: string;
  userId: string;
}

/** A user came online (first connection) or went offline (last one closed). */
export interface PresenceEvent {
  userId: string;
  online: boolean;
}
export type Action = keyof Actions;

/**
 * The server's error codes, plus two of the SDK's own: `no_answer` (the connection was lost or stayed
 * silent while a request that is not safe to resend was out: it may or may not have taken effect) and
 * `closed` (`close()` was called, or reconnecting gave up).
 */
export type ClientErrorCode = ErrorCode | 'no_answer' | 'closed';

/** A refused or unanswered request. Retryable server errors never reach the app: the SDK resends. */
export class ChatRequestError extends Error {
  override readonly name = 'ChatRequestError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Time, injectable so tests drive every timer (backoff, keepalive, gap waits) by hand. */
export interface Scheduler {
  now(): number;
  /** Runs `fn` once after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

/**
 * The part of a WebSocket the SDK uses: the browser's and Node's global one and the `ws` package all
 * fit. Handlers take `never` so that any event type the implementation declares is accepted.
 */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Why a connection is replaced: it dropped, went silent, was declared gone, or reached its age limit. */
export type ReconnectReason = 'lost' | 'no_answer' | 'connection_gone' | 'max_age';

/**
 * A membership change as words: "alice added dave, erin", "alice removed carol", "bob left". `name`
 * says how to show a user id (the web page says "you" for the reader, the terminal strips controls).
 */
export function describeMembership(
  change: { kind: MembershipKind; userIds: string[]; by: string },
  name: (userId: string) => string = (userId) => userId,
): string {
  if (change.kind === 'member_left') return `${name(change.by)} left`;
  const verb = change.kind === 'member_added' ? 'added' : 'removed';
  return `${name(change.by)} ${verb} ${change.userIds.map(name).join(', ')}`;
}
