/**
 * The action table: every client → server action, the schema its frame must pass and the payload its
 * ack carries. The route kit (shared/route-kit/) and the SDK (client/types.ts) are both typed from it,
 * so a changed request or ack fails the typecheck on both sides.
 */
import type { z } from 'zod';
import type {
  AddMembersAck,
  BlockAck,
  BlockedListAck,
  ConfirmUploadAck,
  ConversationListPage,
  CreateConversationAck,
  DeleteAck,
  DownloadUrlAck,
  EditAck,
  MembershipChangeAck,
  MessagesPage,
  PingAck,
  PresenceAck,
  PromoteAck,
  ReadAck,
  SendAck,
  TypingAck,
  UnsubscribeAck,
  UploadUrlAck,
} from './acks';
import {
  addMembersFrameSchema,
  confirmUploadFrameSchema,
  blockFrameSchema,
  createConversationFrameSchema,
  deleteFrameSchema,
  downloadUrlFrameSchema,
  editFrameSchema,
  historyFrameSchema,
  leaveFrameSchema,
  listBlockedFrameSchema,
  listConversationsFrameSchema,
  pingFrameSchema,
  presenceFrameSchema,
  promoteFrameSchema,
  readFrameSchema,
  removeMemberFrameSchema,
  sendFrameSchema,
  subscribeFrameSchema,
  typingFrameSchema,
  unblockFrameSchema,
  unsubscribeFrameSchema,
  uploadUrlFrameSchema,
} from './frames';

/** One action of the table: its request schema, and its ack payload as a type. */
export interface ActionSpec<S extends z.ZodType = z.ZodType, Ack = unknown> {
  request: S;
  /** Type only, never set: a schema checks what comes in, the typecheck what goes out. */
  readonly ack?: Ack;
}

/** An action whose ack payload is `Ack`: `answers<SendAck>()(sendFrameSchema)`. */
const answers =
  <Ack>() =>
  <S extends z.ZodType>(request: S): ActionSpec<S, Ack> => ({ request });

/** Every action a client may send, keyed by the frame's `action` field. */
export const ACTIONS = {
  send: answers<SendAck>()(sendFrameSchema),
  edit: answers<EditAck>()(editFrameSchema),
  delete: answers<DeleteAck>()(deleteFrameSchema),
  subscribe: answers<MessagesPage>()(subscribeFrameSchema),
  unsubscribe: answers<UnsubscribeAck>()(unsubscribeFrameSchema),
  history: answers<MessagesPage>()(historyFrameSchema),
  createConversation: answers<CreateConversationAck>()(createConversationFrameSchema),
  addMembers: answers<AddMembersAck>()(addMembersFrameSchema),
  removeMember: answers<MembershipChangeAck>()(removeMemberFrameSchema),
  leave: answers<MembershipChangeAck>()(leaveFrameSchema),
  promote: answers<PromoteAck>()(promoteFrameSchema),
  block: answers<BlockAck>()(blockFrameSchema),
  unblock: answers<BlockAck>()(unblockFrameSchema),
  listBlocked: answers<BlockedListAck>()(listBlockedFrameSchema),
  listConversations: answers<ConversationListPage>()(listConversationsFrameSchema),
  read: answers<ReadAck>()(readFrameSchema),
  typing: answers<TypingAck>()(typingFrameSchema),
  presence: answers<PresenceAck>()(presenceFrameSchema),
  ping: answers<PingAck>()(pingFrameSchema),
  uploadUrl: answers<UploadUrlAck>()(uploadUrlFrameSchema),
  confirmUpload: answers<ConfirmUploadAck>()(confirmUploadFrameSchema),
  downloadUrl: answers<DownloadUrlAck>()(downloadUrlFrameSchema),
} as const satisfies Record<string, ActionSpec>;

export type Action = keyof typeof ACTIONS;

/** The frame of action `A` as its schema parses it (`action` and `requestId` included). */
export type RequestOf<A extends Action> = z.infer<(typeof ACTIONS)[A]['request']>;

/** The payload of action `A`'s ack: the fields its route returns, without `type`, `action`, `requestId`. */
export type AckOf<A extends Action> = Exclude<(typeof ACTIONS)[A]['ack'], undefined>;

/** True when `action` names an action of the table (and not one of Object's own keys). */
export const isAction = (action: unknown): action is Action =>
  typeof action === 'string' && Object.hasOwn(ACTIONS, action);
