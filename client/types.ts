/**
 * The SDK's public types: what each action takes and answers, the errors it reports, and the few
 * platform pieces it needs (a WebSocket, a clock). Frame and ack shapes come from shared/protocol/, so a
 * protocol change that the SDK does not follow fails the typecheck.
 */
import type { ErrorCode } from '../shared/errors';
import type {
  AckOf,
  ActivityFrame,
  MembershipKind,
  Action as ProtocolAction,
  RequestOf,
} from '../shared/protocol';

/** The ack shapes are the server's own (shared/protocol/acks.ts): a protocol change the SDK does not follow fails the typecheck. */
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
  Invitation,
  JoinRoomAck,
  LastEntry,
  MemberReadSeq,
  MembershipChangeAck,
  MembershipEntry,
  MembershipKind,
  MessagesPage as Page,
  PresenceAck,
  RoomAccess,
  RoomInfo,
  SendAck,
  StoredEntry,
  Tombstone,
  TypingAck,
  UploadUrlAck,
  WhoCanAdd,
} from '../shared/protocol';

/** What a request of action `A` takes: its frame without `action` and `requestId`, which the SDK sets. */
type Fields<A extends ProtocolAction> = Omit<RequestOf<A>, 'action' | 'requestId'>;

/**
 * Every action of the protocol but `ping` (the SDK's own keepalive): the fields it takes and the ack it
 * answers with, both from the action table (shared/protocol/actions.ts) that also types the server's routes.
 */
export type Actions = { [A in Exclude<ProtocolAction, 'ping'>]: { fields: Fields<A>; ack: AckOf<A> } };

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
 * The server's error codes, plus three of the SDK's own: `no_answer` (the connection was lost or stayed
 * silent while a request that is not safe to resend was out: it may or may not have taken effect),
 * `closed` (`close()` was called, or reconnecting gave up) and `cancelled` (a message was deleted
 * before it was sent: its `send()` rejects so).
 */
export type ClientErrorCode = ErrorCode | 'no_answer' | 'closed' | 'cancelled';

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

/**
 * Why a connection is replaced: it dropped, went silent, was declared gone, reached its age limit, its
 * token expired (`token_expired`: the server refuses its frames and closes it), its handshake was
 * refused (the token was not accepted), or its handshake was refused because the user already has the
 * most connections allowed (`too_many_connections`, HTTP 429: close another tab or device; a browser
 * cannot read the status, so there it looks like `lost`).
 */
export type ReconnectReason =
  | 'lost'
  | 'no_answer'
  | 'connection_gone'
  | 'max_age'
  | 'token_expired'
  | 'refused'
  | 'too_many_connections';

/**
 * Why the SDK asks its token provider for a token: the first connection, a reconnect, a token that
 * expired (the server said `token_expired`, or the token's own `exp` had passed when its socket was lost),
 * or a handshake that refused the last token.
 */
export interface TokenRequest {
  reason: 'connect' | 'reconnect' | 'expired' | 'refused';
  /** Handshakes refused in a row before this request; 0 unless `reason` is `refused`. */
  refusals: number;
}

/**
 * A membership change as words: "alice added dave, erin", "alice removed carol", "bob left". `name`
 * says how to show a user id (the web page says "you" for the reader, the terminal strips controls).
 */
export function describeMembership(
  change: { kind: MembershipKind; userIds: string[]; by: string },
  name: (userId: string) => string = (userId) => userId,
): string {
  if (change.kind === 'member_left') return `${name(change.by)} left`;
  const users = change.userIds.map(name).join(', ');
  if (change.kind === 'member_promoted') return `${name(change.by)} made ${users} an admin`;
  const verb = change.kind === 'member_added' ? 'added' : 'removed';
  return `${name(change.by)} ${verb} ${users}`;
}
