/** Promoting a member to admin (`promote`), recorded in the conversation's order. */
import { NotAMemberError, NotAnAdminError, ValidationError } from '../../../shared/errors';
import type { PromoteAck } from '../../../shared/protocol';
import { isAdmin, promoteMember, readMembership } from '../../../shared/store/conversations';
import { type MembershipDeps, recordMembershipChange } from './record';

/**
 * Makes `userId` an admin of the conversation: only an admin may, and only a member can become one. The
 * promotion is one transaction with the check that the caller is still an admin; it then takes a seq as
 * `member_promoted`. Promoting an admin is acked `promoted: false`, nothing written (so a resend is safe).
 * @throws NotAMemberError when the caller is not a member.
 * @throws NotAnAdminError when the caller is not an admin.
 * @throws ValidationError for a direct conversation, or a user who is not a member.
 */
export async function promote(
  deps: MembershipDeps,
  input: { conversationId: string; userId: string; callerId: string },
): Promise<PromoteAck> {
  const { conversationId, userId, callerId } = input;
  const { meta, caller, target } = await readMembership(deps, conversationId, callerId, userId);
  if (meta === undefined || caller === undefined) throw new NotAMemberError(conversationId);
  if (meta.direct === true) {
    throw new ValidationError(['conversationId: a direct conversation has no admins']);
  }
  if (!isAdmin(caller, meta.createdBy)) throw new NotAnAdminError(conversationId, 'promote members');
  if (target === undefined)
    throw new ValidationError([`userId: ${userId} is not a member of this conversation`]);
  const unchanged = { conversationId, userId, promoted: false };
  if (isAdmin(target, meta.createdBy)) return unchanged;
  const outcome = await promoteMember(deps.ddb, deps.tables, input);
  if (outcome === 'caller_changed') throw new NotAnAdminError(conversationId, 'promote members');
  if (outcome === 'unchanged') return unchanged;
  const seq = await recordMembershipChange(deps, {
    conversationId,
    kind: 'member_promoted',
    userIds: [userId],
    by: callerId,
    now: deps.clock(),
  });
  return { conversationId, userId, promoted: true, seq };
}
