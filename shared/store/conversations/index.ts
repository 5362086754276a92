/**
 * The conversations table, every read and write of it, by item kind (key design: shared/tables.ts):
 *
 * - ./meta.ts: the META item: the seq counter every stored entry takes its seq from (reserveSeq), the
 *   counter as readers see it, whole META items;
 * - ./members.ts: reads of `MEMBER#` items: the membership check, which users are members, the members
 *   with their read cursors, a user's conversations (the byMember index);
 * - ./membership.ts: the writes that decide who is a member: create, add, remove (each taking or giving
 *   back the member's conversation slot on their profile item, ./profiles.ts);
 * - ./profiles.ts: a user's `USER#` profile item: their conversation count (the cap), pending
 *   invitations, block list and `whoCanAdd`;
 * - ./admission.ts: what each user adds to a creation's or add's transaction (member item or
 *   invitation, slot, checks), and why a refused one was refused;
 * - ./invitations.ts: `INVITE#` items in a user's partition: which exist, the list, accept, decline;
 * - ./roles.ts: who is an admin, promoting, the successor of the last admin;
 * - ./roster.ts: a group's `ROSTER` item, its member ids, which the conversation list names it by;
 * - ./removals.ts: `REMOVED#` records, which let a resent removal finish its first attempt;
 * - ./cursors.ts: moving a member's read cursor;
 * - ./rooms.ts: rooms (META `kind: 'room'`): create, join, leave, slow mode setting, what their acks say;
 * - ./room-admin.ts: a room's bans (lift one, list them) and a link room's new invite code;
 * - ./slow-mode.ts: a room's slow mode on a send: the setting, and each member's turn on their member item;
 * - ./send-bucket.ts: the send rate, on the member items;
 * - ./typing.ts: the typing throttle, on the member items.
 */

export { type Admission, invitationSk, type TransactItem } from './admission';
export { markRead } from './cursors';
export {
  acceptInvitation,
  declineInvitation,
  listInvitations,
  readInvitation,
  type StoredInvitation,
} from './invitations';
export {
  listMemberCursors,
  listMembers,
  type MemberPage,
  memberConversationIds,
  memberPage,
  requireMember,
  stillMember,
} from './members';
export {
  addMemberItems,
  type Consent,
  createConversation,
  removeMemberItem,
} from './membership';
export { readCounter, readMeta, readMetas, reserveCounted, reserveSeq } from './meta';
export {
  blockUser,
  giveBackConversationSlot,
  PROFILE_SK,
  readProfile,
  readProfiles,
  seenCondition,
  setWhoCanAdd,
  takeConversationSlot,
  type UserProfile,
  unblockUser,
  userPk,
} from './profiles';
export {
  claimRemoval,
  type RemovalRecord,
  readMembership,
  removalSk,
  setRemovalSeq,
} from './removals';
export {
  isAdmin,
  listStandings,
  longestStanding,
  type MemberStanding,
  makeAdmin,
  promoteMember,
  stillAdmin,
} from './roles';
export { type BanPage, bannedPage, replaceInviteCode, unbanFromRoom } from './room-admin';
export { setTick } from './room-tick';
export {
  createRoom,
  isModerator,
  isRoomId,
  joinRoom,
  leaveRoom,
  type NewRoom,
  ROOM_ID_PREFIX,
  readRoom,
  removeFromRoom,
  roomInfoOf,
  setSlowMode,
} from './rooms';
export { readRosters } from './roster';
export {
  BucketHints,
  SEND_INTERVAL_MS,
  SEND_TOLERANCE_MS,
  takeSendToken,
} from './send-bucket';
export { readSlowMode, takeSlowModeTurn } from './slow-mode';
export { takeTypingSlot } from './typing';
