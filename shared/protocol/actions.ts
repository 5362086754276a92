/**
 * The action table: every client → server action, the schema its frame must pass and the payload its
 * ack carries. The route kit (shared/route-kit/) and the SDK (client/types.ts) are both typed from it,
 * so a changed request or ack fails the typecheck on both sides.
 */
import type { CostClass } from '../limits';
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
  InvitationAnswerAck,
  InvitationsAck,
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
  WhoCanAddAck,
} from './acks';
import {
  acceptFrameSchema,
  addMembersFrameSchema,
  blockFrameSchema,
  confirmUploadFrameSchema,
  createConversationFrameSchema,
  declineFrameSchema,
  deleteFrameSchema,
  downloadUrlFrameSchema,
  editFrameSchema,
  historyFrameSchema,
  leaveFrameSchema,
  listBlockedFrameSchema,
  listConversationsFrameSchema,
  listInvitationsFrameSchema,
  pingFrameSchema,
  presenceFrameSchema,
  promoteFrameSchema,
  readFrameSchema,
  removeMemberFrameSchema,
  sendFrameSchema,
  setWhoCanAddFrameSchema,
  subscribeFrameSchema,
  typingFrameSchema,
  unblockFrameSchema,
  unsubscribeFrameSchema,
  uploadUrlFrameSchema,
} from './frames';
import {
  type BannedListAck,
  createRoomFrameSchema,
  type JoinRoomAck,
  joinRoomFrameSchema,
  listBannedFrameSchema,
  newInviteCodeFrameSchema,
  type RoomAck,
  roomInfoFrameSchema,
  setSlowModeFrameSchema,
  setTickFrameSchema,
  type UnbanAck,
  unbanMemberFrameSchema,
} from './rooms';
import type * as z from './zod';

/**
 * What one frame of an action may cost, so each class has its own per-user budget (LIMITS.userBudgets,
 * taken by the route kit before the route runs): `cheap` (typing), `read` (pages, subscriptions,
 * presence, the list, download URLs), `write` (messages, edits, deletes, read cursors), `admin`
 * (conversations and their members, blocks, uploads). `free` (ping) makes no AWS call: only the
 * connection's frame rate bounds it, and a budget would cost it its first one.
 */
export type ActionCost = CostClass | 'free';

/** One action of the table: its request schema, its cost class, and its ack payload as a type. */
export interface ActionSpec<S extends z.core.$ZodType = z.core.$ZodType, Ack = unknown> {
  request: S;
  cost: ActionCost;
  /** Type only, never set: a schema checks what comes in, the typecheck what goes out. */
  readonly ack?: Ack;
}

/** An action whose ack payload is `Ack`: `answers<SendAck>()(sendFrameSchema, 'write')`. */
const answers =
  <Ack>() =>
  <S extends z.core.$ZodType>(request: S, cost: ActionCost): ActionSpec<S, Ack> => ({ request, cost });

/** Every action a client may send, keyed by the frame's `action` field. */
export const ACTIONS = {
  send: answers<SendAck>()(sendFrameSchema, 'write'),
  edit: answers<EditAck>()(editFrameSchema, 'write'),
  delete: answers<DeleteAck>()(deleteFrameSchema, 'write'),
  subscribe: answers<MessagesPage>()(subscribeFrameSchema, 'read'),
  unsubscribe: answers<UnsubscribeAck>()(unsubscribeFrameSchema, 'read'),
  history: answers<MessagesPage>()(historyFrameSchema, 'read'),
  createConversation: answers<CreateConversationAck>()(createConversationFrameSchema, 'admin'),
  addMembers: answers<AddMembersAck>()(addMembersFrameSchema, 'admin'),
  removeMember: answers<MembershipChangeAck>()(removeMemberFrameSchema, 'admin'),
  leave: answers<MembershipChangeAck>()(leaveFrameSchema, 'admin'),
  promote: answers<PromoteAck>()(promoteFrameSchema, 'admin'),
  block: answers<BlockAck>()(blockFrameSchema, 'admin'),
  unblock: answers<BlockAck>()(unblockFrameSchema, 'admin'),
  listBlocked: answers<BlockedListAck>()(listBlockedFrameSchema, 'read'),
  setWhoCanAdd: answers<WhoCanAddAck>()(setWhoCanAddFrameSchema, 'admin'),
  listInvitations: answers<InvitationsAck>()(listInvitationsFrameSchema, 'read'),
  accept: answers<InvitationAnswerAck>()(acceptFrameSchema, 'admin'),
  decline: answers<InvitationAnswerAck>()(declineFrameSchema, 'admin'),
  listConversations: answers<ConversationListPage>()(listConversationsFrameSchema, 'read'),
  read: answers<ReadAck>()(readFrameSchema, 'write'),
  typing: answers<TypingAck>()(typingFrameSchema, 'cheap'),
  presence: answers<PresenceAck>()(presenceFrameSchema, 'read'),
  ping: answers<PingAck>()(pingFrameSchema, 'free'),
  uploadUrl: answers<UploadUrlAck>()(uploadUrlFrameSchema, 'admin'),
  confirmUpload: answers<ConfirmUploadAck>()(confirmUploadFrameSchema, 'admin'),
  downloadUrl: answers<DownloadUrlAck>()(downloadUrlFrameSchema, 'read'),
  createRoom: answers<RoomAck>()(createRoomFrameSchema, 'admin'),
  joinRoom: answers<JoinRoomAck>()(joinRoomFrameSchema, 'admin'),
  setSlowMode: answers<RoomAck>()(setSlowModeFrameSchema, 'admin'),
  setTick: answers<RoomAck>()(setTickFrameSchema, 'admin'),
  roomInfo: answers<RoomAck>()(roomInfoFrameSchema, 'read'),
  unbanMember: answers<UnbanAck>()(unbanMemberFrameSchema, 'admin'),
  listBanned: answers<BannedListAck>()(listBannedFrameSchema, 'read'),
  newInviteCode: answers<RoomAck>()(newInviteCodeFrameSchema, 'admin'),
} as const satisfies Record<string, ActionSpec>;

export type Action = keyof typeof ACTIONS;

/** The frame of action `A` as its schema parses it (`action` and `requestId` included). */
export type RequestOf<A extends Action> = z.infer<(typeof ACTIONS)[A]['request']>;

/** The payload of action `A`'s ack: the fields its route returns, without `type`, `action`, `requestId`. */
export type AckOf<A extends Action> = Exclude<(typeof ACTIONS)[A]['ack'], undefined>;

/** True when `action` names an action of the table (and not one of Object's own keys). */
export const isAction = (action: unknown): action is Action =>
  typeof action === 'string' && Object.hasOwn(ACTIONS, action);
