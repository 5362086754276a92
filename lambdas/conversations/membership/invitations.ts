/** Answering invitations: `listInvitations`, `accept` (recorded as `member_added` by the inviter) and `decline`. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ActionRoutes } from '../../../shared/route-kit';
import {
  acceptInvitation,
  declineInvitation,
  listInvitations,
  readInvitation,
} from '../../../shared/store/conversations';
import type { TableNames } from '../../../shared/tables';
import { type MembershipDeps, recordMembershipChange } from './record';

/**
 * The invitation routes. `accept` makes the caller a member in one transaction (see acceptInvitation)
 * and, with `membership`, records `member_added` in the conversation's order, so the members and the
 * newcomer hear of it as of any add; an invitation already answered is acked `joined: false`. `decline`
 * forgets the invitation and tells nobody.
 */
export function invitationRoutes(deps: {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'conversations'>;
  clock: () => Date;
  /** @default none: an acceptance is not recorded */
  membership?: MembershipDeps | undefined;
}): Pick<Required<ActionRoutes>, 'listInvitations' | 'accept' | 'decline'> {
  const { ddb, tables, clock, membership } = deps;
  return {
    listInvitations: async (_frame, caller) => ({
      invitations: (await listInvitations(ddb, tables, caller.userId)).map(
        ({ byAdmin: _, ...invitation }) => invitation,
      ),
    }),
    accept: async (frame, caller) => {
      const { conversationId } = frame;
      const invitation = await readInvitation(ddb, tables, caller.userId, conversationId);
      const unanswered = { conversationId, joined: false };
      if (invitation === undefined) return unanswered;
      if (!(await acceptInvitation(ddb, tables, { userId: caller.userId, invitation, now: clock() }))) {
        return unanswered;
      }
      if (membership === undefined) return { conversationId, joined: true };
      const seq = await recordMembershipChange(membership, {
        conversationId,
        kind: 'member_added',
        userIds: [caller.userId],
        by: invitation.invitedBy,
        now: clock(),
      });
      return { conversationId, joined: true, seq };
    },
    decline: async (frame, caller) => ({
      conversationId: frame.conversationId,
      declined: await declineInvitation(ddb, tables, caller.userId, frame.conversationId),
    }),
  };
}
