/**
 * Consent: whom a creation or add makes a member straight away and whom it invites, by each user's
 * `whoCanAdd` (shared/store/conversations/profiles.ts): `anyone`, `contacts` (people who share a group
 * with them) or `nobody`. The setting read here is checked unchanged in the write's transaction, so a
 * change made meanwhile refuses the write rather than being ignored. Invitees are told on their
 * connections.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mapWithConcurrency } from '../../../shared/concurrency';
import { postEphemeral } from '../../../shared/ephemeral';
import { LIMITS } from '../../../shared/limits';
import type { PostFn } from '../../../shared/poster';
import type { InvitationFrame } from '../../../shared/protocol';
import { indexedConnections } from '../../../shared/store/connections';
import { type Consent, memberConversationIds, readProfiles } from '../../../shared/store/conversations';
import type { TableNames } from '../../../shared/tables';

/** byMember Queries (a `contacts` user's conversations) or byUser Queries (an invitee's connections) at once. */
const LOOKUP_CONCURRENCY = 10;

/** Direct conversations do not make contacts: anyone may open one, so it proves no consent to groups. */
const isGroup = (conversationId: string): boolean => !conversationId.startsWith('dm-');

/**
 * Sorts `userIds` (the caller left out) into members and invitees by their `whoCanAdd`: one consistent
 * BatchGetItem of their profiles; when one of them admits only contacts, one keys-only Query of the
 * caller's conversations and one of each such user's (each at most LIMITS.maxConversationsPerUser ids).
 */
export async function consentOf(
  deps: { ddb: DynamoDBDocumentClient; tables: Pick<TableNames, 'conversations'> },
  callerId: string,
  userIds: string[],
): Promise<Consent> {
  const { ddb, tables } = deps;
  const others = userIds.filter((userId) => userId !== callerId);
  if (others.length === 0) return new Map();
  const profiles = await readProfiles(ddb, tables, others);
  const contactsOnly = others.filter((userId) => profiles.get(userId)?.whoCanAdd === 'contacts');
  const contacts = new Set<string>();
  if (contactsOnly.length > 0) {
    const limit = LIMITS.maxConversationsPerUser;
    const groups = new Set((await memberConversationIds(ddb, tables, callerId, limit)).filter(isGroup));
    const shared = await mapWithConcurrency(contactsOnly, LOOKUP_CONCURRENCY, async (userId) =>
      (await memberConversationIds(ddb, tables, userId, limit)).some((id) => groups.has(id)),
    );
    for (const [index, result] of shared.entries()) {
      const userId = contactsOnly[index];
      if (result.status === 'rejected') throw result.reason;
      if (result.value && userId !== undefined) contacts.add(userId);
    }
  }
  return new Map(
    others.map((userId) => {
      const seen = profiles.get(userId)?.whoCanAdd ?? LIMITS.defaultWhoCanAdd;
      const invite = seen === 'nobody' || (seen === 'contacts' && !contacts.has(userId));
      return [userId, { invite, seen }];
    }),
  );
}

/**
 * Posts `data` to every connection of each of `userIds`: one keys-only byUser Query per user, then the
 * posts; best effort like typing: it never throws.
 */
export async function postToUsers(
  deps: { ddb: DynamoDBDocumentClient; tables: Pick<TableNames, 'connections'>; post: PostFn },
  userIds: string[],
  data: string,
): Promise<void> {
  const found = await mapWithConcurrency(userIds, LOOKUP_CONCURRENCY, (userId) =>
    indexedConnections(deps.ddb, deps.tables, userId),
  );
  const connections = found.flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
  await postEphemeral(deps.post, connections, data);
}

/** Posts `{type:'invitation'}` to the connections of each invitee, so a page can show it at once. */
export async function tellInvited(
  deps: { ddb: DynamoDBDocumentClient; tables: Pick<TableNames, 'connections'>; post?: PostFn | undefined },
  invited: string[],
  invitation: Omit<InvitationFrame, 'type'>,
): Promise<void> {
  const { post } = deps;
  if (post === undefined || invited.length === 0) return;
  const frame: InvitationFrame = { type: 'invitation', ...invitation };
  await postToUsers({ ddb: deps.ddb, tables: deps.tables, post }, invited, JSON.stringify(frame));
}
