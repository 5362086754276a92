/**
 * The conversations table, every read and write of it, by item kind (key design: shared/tables.ts):
 *
 * - ./meta.ts: the META item, with the seq counter every stored entry takes its seq from;
 * - ./members.ts: reads of `MEMBER#` items: the membership check, who the members are, a user's conversations;
 * - ./membership.ts: creating a conversation with its members, adding members;
 * - ./removals.ts: `REMOVED#` records, which let a resent removal finish its first attempt;
 * - ./cursors.ts: read cursors on the member items;
 * - ./send-bucket.ts: the send rate, on the member items.
 */
export { markRead } from './cursors';
export {
  existingMembers,
  listMemberCursors,
  listMembers,
  memberConversationIds,
  requireMember,
} from './members';
export { addMembers, createConversation, type MemberRole } from './membership';
export { readCounter, reserveSeq } from './meta';
export { type RemovalRecord, readMembership, removalSk } from './removals';
export {
  BucketHints,
  SEND_INTERVAL_MS,
  SEND_TOLERANCE_MS,
  takeSendToken,
} from './send-bucket';
