/**
 * Membership changes as events in the conversation's order: `removeMember` and `leave`, and the event
 * `addMembers` records. A change takes a seq like a message (the atomic `ADD lastSeq 1` on META), is
 * stored at that seq in the messages table with a conditional put, and is enqueued in the conversation's
 * FIFO group, where the fan-out pushes it as `{type:'membership'}` after the messages before it.
 *
 * - Anyone may leave; only an admin (`role: 'admin'` on the member item; the creator is one, and so is
 *   whom an admin promotes with `promote`) removes someone else. `addMembers` adds plain members; a user
 *   an admin removed is added back only by an admin (their `REMOVED#` record says who removed them,
 *   checked in the add's transaction). When the last admin leaves, the longest-standing member (earliest
 *   `joinedAt`) is promoted in the same transaction, so a group always has an admin while it has members.
 * - Every member item takes its user's conversation slot (LIMITS.maxConversationsPerUser) in the
 *   transaction that writes it, refused when the user blocks whoever adds them; a removal gives it back.
 *   The block list itself: ./blocks.ts.
 * - Consent: a user whose `whoCanAdd` (anyone, contacts: people who share a group with them, nobody)
 *   does not admit whoever creates or adds to a group is invited instead: an `INVITE#` item in their
 *   own partition, no member item, so no history, messages or offline events until they `accept`.
 * - Direct conversations refuse both: they have exactly their two members, and nobody could re-add one.
 * - A removed member stops receiving at once: their member item and their subscriptions to the
 *   conversation are deleted before the event is enqueued, so no later fan-out reaches them, and every
 *   route's member check refuses them from then on.
 * - A removal survives its own failures: the transaction that deletes the member item also writes a
 *   removal record (`REMOVED#<userId>`), which later gets the change's seq. A resend that finds the
 *   record finishes what the first attempt left (subscriptions, the change, its enqueue) and is acked
 *   as the first attempt would have been, so a step that failed never leaves a removed member listening
 *   or a change out of the order.
 *
 * Here: ./record.ts (a change in the order, told to the users it names), ./add.ts (addMembers),
 * ./remove.ts (removeMember and leave, and finishing an unfinished removal), ./promote.ts (promote),
 * ./blocks.ts (block, unblock, listBlocked, setWhoCanAdd), ./consent.ts (who is added and who invited),
 * ./create.ts (a group's creation), ./invitations.ts (listInvitations, accept, decline), and the routes
 * below.
 */
import type { ActionRoutes } from '../../../shared/route-kit';
import { promote } from './promote';
import type { MembershipDeps } from './record';
import { removeMember } from './remove';

export { addMembers } from './add';
export { blockRoutes } from './blocks';
export { createGroup } from './create';
export { invitationRoutes } from './invitations';
export type { MembershipDeps } from './record';
export { REMOVAL_RESEND_WINDOW_MS } from './remove';

/** The `removeMember`, `leave` and `promote` routes, for the conversations handler's route table. */
export function membershipRoutes(
  deps: MembershipDeps,
): Pick<Required<ActionRoutes>, 'removeMember' | 'leave' | 'promote'> {
  return {
    promote: (frame, caller) =>
      promote(deps, { conversationId: frame.conversationId, userId: frame.userId, callerId: caller.userId }),
    removeMember: (frame, caller) =>
      removeMember(deps, {
        conversationId: frame.conversationId,
        userId: frame.userId,
        callerId: caller.userId,
      }),
    leave: (frame, caller) =>
      removeMember(deps, {
        conversationId: frame.conversationId,
        userId: caller.userId,
        callerId: caller.userId,
      }),
  };
}
