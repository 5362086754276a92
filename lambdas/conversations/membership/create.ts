/** Creating a group (`createConversation` without `direct`): its members, and invitations for the others. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ConversationSummary } from '../../../shared/protocol';
import { createConversation } from '../../../shared/store/conversations';
import type { TableNames } from '../../../shared/tables';
import { consentOf, tellInvited } from './consent';
import { type MembershipDeps, tellNamedUsers } from './record';

/**
 * Creates a group of the caller (its admin) and `frame.members`: those whose `whoCanAdd` admits the
 * caller become members, the others are invited (./consent.ts) and told so on their connections; every
 * member's conversation slot, and every invitee's pending slot, is taken in the creating transaction.
 * The members added hear of the group on their connections as members added later do: a `membership`
 * push `member_added` naming them, at seq 0 because the creation takes no seq (it is the conversation's
 * start, not an entry of its history, so a fresh group's first message is still seq 1).
 * @returns the conversation: `members` those added, `invited` those invited (if any).
 * @throws LimitExceededError, NotAllowedError: see createConversation (nothing is written).
 */
export async function createGroup(
  deps: {
    ddb: DynamoDBDocumentClient;
    tables: Pick<TableNames, 'conversations'>;
    /** Posts invitations to the invitees' connections. @default none: they learn of them from listInvitations */
    membership?: MembershipDeps | undefined;
  },
  input: {
    conversationId: string;
    members: string[];
    title?: string | undefined;
    callerId: string;
    now: Date;
  },
): Promise<ConversationSummary> {
  const { ddb, tables, membership } = deps;
  const { conversationId, callerId, title } = input;
  const conversation = await createConversation(ddb, tables, {
    conversationId,
    ...(title === undefined ? {} : { title }),
    members: [callerId, ...input.members],
    createdBy: callerId,
    now: input.now,
    consent: await consentOf(deps, callerId, input.members),
  });
  if (membership !== undefined) {
    const added = conversation.members.filter((userId) => userId !== callerId);
    await Promise.all([
      tellInvited(membership, conversation.invited ?? [], {
        conversationId,
        invitedBy: callerId,
        invitedAt: conversation.createdAt,
        ...(title === undefined ? {} : { title }),
      }),
      added.length === 0
        ? undefined
        : tellNamedUsers(membership, {
            kind: 'membership',
            conversationId,
            seq: 0,
            event: 'member_added',
            userIds: added,
            by: callerId,
            at: conversation.createdAt,
          }),
    ]);
  }
  return conversation;
}
