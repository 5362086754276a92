/** Adding members (`addMembers`), and recording the addition in the conversation's order. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NotAMemberError } from '../../../shared/errors';
import type { AddMembersAck } from '../../../shared/protocol';
import { addMemberItems, isAdmin, readMembership } from '../../../shared/store/conversations';
import type { TableNames } from '../../../shared/tables';
import { consentOf, tellInvited } from './consent';
import { type MembershipDeps, recordMembershipChange } from './record';

/**
 * Adds those of `frame.members` who are not members yet, as plain members, once the caller is found to
 * be a member; with `membership`, a non-empty addition then takes a seq (see recordMembershipChange).
 * Each added user's conversation slot is taken in the same transaction (see addMemberItems), a user
 * an admin removed is added back only by an admin, and a user whose `whoCanAdd` does not admit the
 * caller is invited instead (./consent.ts), and told so on their connections.
 * @throws NotAMemberError when the caller is not a member (nothing is written).
 * @throws LimitExceededError, NotAllowedError or NotAnAdminError from addMemberItems (nothing is written).
 */
export async function addMembers(
  deps: {
    ddb: DynamoDBDocumentClient;
    tables: Pick<TableNames, 'conversations'>;
    clock: () => Date;
    /** @default none: the addition is not recorded */
    membership?: MembershipDeps | undefined;
  },
  frame: { conversationId: string; members: string[] },
  callerId: string,
): Promise<AddMembersAck> {
  const { ddb, tables, clock, membership } = deps;
  const { meta, caller } = await readMembership(deps, frame.conversationId, callerId, callerId);
  if (meta === undefined || caller === undefined) throw new NotAMemberError(frame.conversationId);
  const now = clock();
  const { added, invited } = await addMemberItems(ddb, tables, {
    conversationId: frame.conversationId,
    members: frame.members,
    addedBy: callerId,
    byAdmin: isAdmin(caller, meta.createdBy),
    now,
    consent: await consentOf(deps, callerId, frame.members),
  });
  const title = typeof meta.title === 'string' ? { title: meta.title } : {};
  if (membership !== undefined) {
    await tellInvited(membership, invited, {
      conversationId: frame.conversationId,
      invitedBy: callerId,
      invitedAt: now.toISOString(),
      ...title,
    });
  }
  const ack = { conversationId: frame.conversationId, added, ...(invited.length > 0 ? { invited } : {}) };
  if (added.length === 0 || membership === undefined) return ack;
  const seq = await recordMembershipChange(membership, {
    conversationId: frame.conversationId,
    kind: 'member_added',
    userIds: added,
    by: callerId,
    now: clock(),
  });
  return { ...ack, seq };
}
