/** Removing a member (`removeMember`, or `leave` when it is the caller), and finishing a removal a resend finds unfinished. */
import { BusyError, NotAMemberError, NotAnAdminError, ValidationError } from '../../../shared/errors';
import { LIMITS } from '../../../shared/limits';
import type { MembershipChangeAck } from '../../../shared/protocol';
import { deleteSubscription, listListeners } from '../../../shared/store/connections';
import {
  claimRemoval,
  isAdmin,
  listStandings,
  longestStanding,
  makeAdmin,
  type RemovalRecord,
  readMembership,
  removeMemberItem,
  setRemovalSeq,
  stillAdmin,
  type TransactItem,
} from '../../../shared/store/conversations';
import { enqueue } from '../../../shared/store/fanout-queue';
import { type MembershipDeps, recordMembershipChange } from './record';

/**
 * How long after a removal began a request from its caller for the same user counts as a resend of it:
 * the writer lease, then SQS's 5-minute deduplication window, inside which its re-enqueue is a no-op.
 */
export const REMOVAL_RESEND_WINDOW_MS = LIMITS.writerLeaseMs + 5 * 60_000;

/** How long a resend waits when another resend took an unfinished removal over a moment ago. */
const TAKEN_OVER_RETRY_MS = 250;

/** Attempts of a removal whose transaction met a concurrent change of roles (two admins leaving at once). */
const ROLE_ATTEMPTS = 3;

/** Deletes every subscription of `userId`'s connections to the conversation, so no later fan-out reaches them. */
async function endSubscriptions(
  deps: Pick<MembershipDeps, 'ddb' | 'tables'>,
  conversationId: string,
  userId: string,
): Promise<void> {
  const listeners = await listListeners(deps.ddb, deps.tables, conversationId, { consistent: true });
  await Promise.all(
    listeners
      .filter((listener) => listener.userId === userId)
      .map((listener) =>
        deleteSubscription(deps.ddb, deps.tables, { conversationId, connectionId: listener.connectionId }),
      ),
  );
}

/**
 * Removes `userId` from the conversation (`leave` when it is the caller): checks, then one transaction
 * that deletes the member item (only if it is there), decrements META `memberCount`, gives back the
 * user's conversation slot, writes the removal record and keeps the conversation an admin (see
 * {@link keepAnAdmin}; a caller removing someone else is checked to be an admin still); then ends the
 * user's subscriptions, records the change (see {@link recordMembershipChange}) and gives the record its
 * seq, and records a successor's promotion; the ack comes after.
 * A resend from the same caller finds the record and is answered as the first attempt was (see
 * {@link finishRemoval}); a user who is not a member otherwise is acked `removed: false`, nothing written.
 * @throws NotAMemberError when the caller is not a member (or the conversation does not exist).
 * @throws ValidationError for a direct conversation.
 * @throws NotAnAdminError when the caller removes someone else without being the creator or an admin.
 * @throws BusyError when the first attempt of this removal is still running.
 */
export async function removeMember(
  deps: MembershipDeps,
  input: { conversationId: string; userId: string; callerId: string },
): Promise<MembershipChangeAck> {
  const { conversationId, userId, callerId } = input;
  const { meta, caller, target, removal } = await readMembership(deps, conversationId, callerId, userId);
  if (meta === undefined) throw new NotAMemberError(conversationId);
  // A resend of this caller's removal (after a leave, the caller is no member any more), while a resend
  // is still plausible; an old record is history, and the usual checks answer.
  if (
    target === undefined &&
    removal?.by === callerId &&
    deps.clock().getTime() < removal.claimedAt + REMOVAL_RESEND_WINDOW_MS
  ) {
    return finishRemoval(deps, conversationId, userId, removal);
  }
  if (caller === undefined) throw new NotAMemberError(conversationId);
  if (meta.direct === true) {
    throw new ValidationError(['conversationId: a direct conversation has exactly its two members']);
  }
  const leaving = userId === callerId;
  // The creator's rights live in their member item's role; META's createdBy speaks only for an item
  // written before roles existed, so a creator who left and was added back is a plain member.
  const callerIsAdmin = isAdmin(caller, meta.createdBy);
  if (!leaving && !callerIsAdmin) throw new NotAnAdminError(conversationId);
  const unchanged = { conversationId, userId, removed: false };
  if (target === undefined) return unchanged;
  const record: RemovalRecord = {
    kind: leaving ? 'member_left' : 'member_removed',
    by: callerId,
    claimedAt: deps.clock().getTime(),
  };
  for (let attempt = 1; attempt <= ROLE_ATTEMPTS; attempt++) {
    const succession: { also?: TransactItem[]; successor?: string } =
      leaving && callerIsAdmin ? await keepAnAdmin(deps, conversationId, userId, meta.createdBy) : {};
    const also = succession.also ?? (leaving ? [] : [stillAdmin(deps.tables, conversationId, callerId)]);
    const outcome = await removeMemberItem(deps.ddb, deps.tables, conversationId, userId, {
      record,
      counted: target.counted === true,
      also,
    });
    // Removed by a concurrent request a moment ago, which records the change.
    if (outcome === 'not_a_member') return unchanged;
    if (outcome === 'removed') {
      const ack = await completeRemoval(deps, conversationId, userId, record);
      if (succession.successor !== undefined) {
        await recordMembershipChange(deps, {
          conversationId,
          kind: 'member_promoted',
          userIds: [succession.successor],
          by: callerId,
          now: deps.clock(),
        });
      }
      return ack;
    }
    // The caller removing someone else is no admin any more: the usual answer.
    if (!leaving) throw new NotAnAdminError(conversationId);
  }
  throw new BusyError('The roles of this conversation changed meanwhile', TAKEN_OVER_RETRY_MS);
}

/**
 * What keeps a conversation with an admin when admin `userId` leaves: while another admin is there, a
 * condition that they still are (two admins leaving at once then cannot both go unnoticed, as their
 * transactions touch each other's items); otherwise the longest-standing member is promoted in the same
 * transaction. One consistent Query of the member items.
 */
async function keepAnAdmin(
  deps: MembershipDeps,
  conversationId: string,
  userId: string,
  createdBy: unknown,
): Promise<{ also: TransactItem[]; successor?: string }> {
  const others = (await listStandings(deps.ddb, deps.tables, conversationId)).filter(
    (member) => member.userId !== userId,
  );
  const admin = others.find((member) => isAdmin(member, createdBy));
  if (admin !== undefined) return { also: [stillAdmin(deps.tables, conversationId, admin.userId)] };
  const successor = longestStanding(others);
  if (successor === undefined) return { also: [] };
  return { also: [makeAdmin(deps.tables, conversationId, successor.userId)], successor: successor.userId };
}

/**
 * What follows the transaction: ends the user's subscriptions, stores and enqueues the change, and
 * writes its seq and time on the removal record (only if no attempt wrote them first).
 */
async function completeRemoval(
  deps: MembershipDeps,
  conversationId: string,
  userId: string,
  record: RemovalRecord,
): Promise<MembershipChangeAck> {
  await endSubscriptions(deps, conversationId, userId);
  // The record gets the seq as soon as the change is stored: a resend after a failed enqueue then
  // enqueues that change again instead of recording a second one.
  const remember = async (seq: number, at: string): Promise<void> => {
    // Another attempt gave the record its seq first (it outlived its lease): this change stands too.
    if (!(await setRemovalSeq(deps, conversationId, userId, { seq, at }))) {
      deps.logger.info('The removal record already had a seq', { seq });
    }
  };
  const seq = await recordMembershipChange(
    deps,
    { conversationId, kind: record.kind, userIds: [userId], by: record.by, now: deps.clock() },
    remember,
  );
  deps.logger.info(record.kind === 'member_left' ? 'Member left' : 'Member removed', { seq });
  return { conversationId, userId, removed: true, seq };
}

/**
 * A resend of a removal whose transaction went through. Finished (the record has its seq): the change
 * is enqueued again (a no-op within SQS's dedup window, a repair if the first enqueue failed) and acked
 * with its seq, as the first attempt was. Unfinished, with the first attempt possibly still running
 * (within the writer lease): `busy` until the lease ends. Unfinished after it: that attempt is gone, so
 * this one takes the record over (conditionally, so only one resend does) and completes the removal.
 */
async function finishRemoval(
  deps: MembershipDeps,
  conversationId: string,
  userId: string,
  removal: RemovalRecord,
): Promise<MembershipChangeAck> {
  if (typeof removal.seq === 'number') {
    await enqueue(deps.sqs, deps.fanoutQueueUrl, {
      kind: 'membership',
      conversationId,
      seq: removal.seq,
      event: removal.kind,
      userIds: [userId],
      by: removal.by,
      at: String(removal.at),
    });
    return { conversationId, userId, removed: true, seq: removal.seq };
  }
  const now = deps.clock().getTime();
  const leaseLeft = removal.claimedAt + LIMITS.writerLeaseMs - now;
  if (leaseLeft > 0) {
    throw new BusyError('This removal is still being carried out by an earlier attempt', leaseLeft);
  }
  if (!(await claimRemoval(deps, conversationId, userId, { staleClaimedAt: removal.claimedAt, now }))) {
    // Another resend took it over (or finished it) a moment ago.
    throw new BusyError('This removal is being finished by another attempt', TAKEN_OVER_RETRY_MS);
  }
  deps.logger.info('Took over a removal whose first attempt is gone');
  return completeRemoval(deps, conversationId, userId, { ...removal, claimedAt: now });
}
