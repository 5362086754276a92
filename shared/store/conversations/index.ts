/**
 * The conversations table, every read and write of it, by item kind (key design: shared/tables.ts):
 *
 * - ./meta.ts: the META item: the seq counter every stored entry takes its seq from (reserveSeq), the
 *   counter as readers see it, whole META items;
 * - ./members.ts: reads of `MEMBER#` items: the membership check, which users are members, the members
 *   with their read cursors, a user's conversations (the byMember index);
 * - ./membership.ts: the writes that decide who is a member: create, add, remove;
 * - ./removals.ts: `REMOVED#` records, which let a resent removal finish its first attempt;
 * - ./cursors.ts: moving a member's read cursor;
 * - ./send-bucket.ts: the send rate, on the member items;
 * - ./typing.ts: the typing throttle, on the member items.
 */
export { markRead } from './cursors';
export {
  listMemberCursors,
  listMembers,
  memberConversationIds,
  memberReadSeqs,
  requireMember,
} from './members';
export {
  addMemberItems,
  createConversation,
  removeMemberItem,
} from './membership';
export { readCounter, readMeta, readMetas, reserveSeq } from './meta';
export {
  claimRemoval,
  type RemovalRecord,
  readMembership,
  removalSk,
  setRemovalSeq,
} from './removals';
export {
  BucketHints,
  SEND_INTERVAL_MS,
  SEND_TOLERANCE_MS,
  takeSendToken,
} from './send-bucket';
export { takeTypingSlot } from './typing';
