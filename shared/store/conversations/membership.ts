/**
 * Writes that decide who is a member: a new conversation with its members, members added later, a
 * member removed. Each writes META, the group's `ROSTER` (./roster.ts) and `MEMBER#` items together, so
 * `memberCount` and the roster never disagree with the items, and takes (or gives back) each member's conversation slot on their profile item
 * (./profiles.ts) in the same transaction, so the per-user cap and the block list hold under races.
 */

import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { cancellationReasons, LimitExceededError, NotAMemberError, ValidationError } from '../../errors';
import { LIMITS } from '../../limits';
import type { ConversationSummary, WhoCanAdd } from '../../protocol';
import { META_SK, memberSk, type TableNames } from '../../tables';
import {
  type Admission,
  type AdmissionContext,
  admissionUnit,
  type TransactItem,
  undoUnit,
  unitRefusal,
  unitSize,
} from './admission';
import { existingInvitations } from './invitations';
import { existingMembers } from './members';
import { giveBackConversationSlot } from './profiles';
import { type RemovalRecord, removalSk } from './removals';
import { changeRoster, putRoster } from './roster';

/** DynamoDB refuses a TransactWriteItems call with more items than this. */
const MAX_TRANSACTION_ITEMS = 100;

/** Room a creation's or add's transaction keeps beside the users' units: META and the roster. */
const CONVERSATION_ITEMS = 2;

/** Attempts of addMemberItems when a concurrent add keeps changing who is a member. */
const ADD_MEMBERS_ATTEMPTS = 3;

type Tables = Pick<TableNames, 'conversations'>;

/** The refusal for a group that would grow past LIMITS.maxGroupSize. */
function groupTooLarge(size: number): LimitExceededError {
  return new LimitExceededError(
    `A conversation has at most ${LIMITS.maxGroupSize} members (the creator included); this would make ${size}`,
  );
}

/** Who a creation or add admits as members and who it invites, as the caller sorted them (./admission.ts). */
export type Consent = Map<string, { invite: boolean; seen?: WhoCanAdd }>;

/**
 * Writes one unit per member (./admission.ts: the member item or invitation, and the user's slot,
 * refused when they are at their cap or block the creator) and the META item (counter at 0,
 * memberCount) last, with a group's roster. Up to 49 users that is one TransactWriteItems; a larger group takes a transaction
 * per 49 with META in the last, so a conversation is never visible without its members, and a refused
 * transaction has the ones before it undone (their items deleted and slots given back) before the
 * refusal is thrown. The users are deduplicated, first occurrence first, so pass the creator first;
 * `consent` says who is invited rather than added (nobody, for a direct conversation).
 * @returns the conversation, whose `members` are those added, and `invited` those invited (if any).
 * @throws LimitExceededError when there are more than LIMITS.maxGroupSize members, or one is at their cap.
 * @throws NotAllowedError when a member blocks the creator.
 * @throws the TransactionCanceledException when the conversation (or a member item) exists already.
 */
export async function createConversation(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: {
    conversationId: string;
    title?: string;
    members: string[];
    createdBy: string;
    now: Date;
    direct?: boolean;
    consent?: Consent;
  },
): Promise<ConversationSummary> {
  const users = [...new Set(input.members)];
  if (users.length > LIMITS.maxGroupSize) throw groupTooLarge(users.length);
  const createdAt = input.now.toISOString();
  const { conversationId, createdBy } = input;
  const admissions = users.map((userId): Admission => {
    const consent = input.consent?.get(userId);
    return { userId, invite: consent?.invite === true, ...(consent?.seen ? { seen: consent.seen } : {}) };
  });
  const members = admissions.filter((admission) => !admission.invite).map((admission) => admission.userId);
  const invited = admissions.filter((admission) => admission.invite).map((admission) => admission.userId);
  const meta = {
    conversationId,
    sk: META_SK,
    ...(input.title === undefined ? {} : { title: input.title }),
    createdBy,
    createdAt,
    lastSeq: 0,
    memberCount: members.length,
    ...(input.direct === true ? { direct: true, members } : {}),
  };
  const context: AdmissionContext = {
    conversationId,
    by: createdBy,
    at: createdAt,
    byAdmin: true,
    ...(input.title === undefined ? {} : { title: input.title }),
    roleOf: (userId) => (userId === createdBy ? 'admin' : 'member'),
  };
  const runs = chunk(admissions, Math.floor((MAX_TRANSACTION_ITEMS - CONVERSATION_ITEMS) / unitSize(true)));
  for (const [index, run] of runs.entries()) {
    const items = run.flatMap((admission) => admissionUnit(tables, context, admission));
    // A conversation exists once its META exists: every route checks META, so it goes in the last transaction.
    if (index === runs.length - 1) {
      items.push({
        Put: {
          TableName: tables.conversations,
          Item: meta,
          ConditionExpression: 'attribute_not_exists(conversationId)',
        },
      });
      // A direct conversation's META lists its two members already.
      if (input.direct !== true) items.push(putRoster(tables, conversationId, members));
    }
    try {
      await ddb.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (err: unknown) {
      await undoUnits(ddb, tables, conversationId, runs.slice(0, index).flat());
      const reasons = cancellationReasons(err) ?? [];
      // A member item or META was there already: the caller decides (a direct conversation answers with it).
      const refusals = reasons.map((reason, i) =>
        i < run.length * unitSize(true) ? unitRefusal(reason, i, { admissions: run, context }) : undefined,
      );
      const refusal = refusals.find((found) => found !== undefined);
      const collided = reasons.some((reason, i) => reason.Code === 'ConditionalCheckFailed' && i % 2 === 0);
      if (collided || refusal === undefined) throw err;
      throw refusal;
    }
  }
  return {
    conversationId,
    ...(input.title === undefined ? {} : { title: input.title }),
    ...(input.direct === true ? { direct: true as const } : {}),
    members,
    createdBy,
    createdAt,
    lastSeq: 0,
    ...(invited.length > 0 ? { invited } : {}),
  };
}

/**
 * Adds each user who is not a member yet, or invites them (`consent`), in one transaction per up to 49
 * users (32 when the caller is no admin): their units (./admission.ts: member item or invitation, slot,
 * and for a caller who is no admin the check that no admin removed them), META `memberCount`, which
 * can only grow to LIMITS.maxGroupSize, and the roster. Items are put only if they are not there, so concurrent adds and
 * retries are safe and never overwrite the original `joinedAt`/`addedBy`; a refused transaction has the
 * ones before it undone before the refusal is thrown. Users with a pending invitation are left out.
 * @returns the users added and those invited, in request order.
 * @throws LimitExceededError when the group would grow past LIMITS.maxGroupSize or a user is at their cap.
 * @throws NotAllowedError when a user blocks the caller.
 * @throws NotAnAdminError when the caller is no admin and a user was removed by one.
 */
export async function addMemberItems(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: {
    conversationId: string;
    members: string[];
    addedBy: string;
    byAdmin: boolean;
    now: Date;
    consent?: Consent;
  },
): Promise<{ added: string[]; invited: string[] }> {
  const { conversationId, addedBy, byAdmin } = input;
  const requested = [...new Set(input.members)];
  // Even if only the caller were a member, these would not fit.
  if (requested.length >= LIMITS.maxGroupSize) throw groupTooLarge(requested.length + 1);
  const context: AdmissionContext = {
    conversationId,
    by: addedBy,
    at: input.now.toISOString(),
    byAdmin,
    roleOf: () => 'member',
  };
  const size = unitSize(byAdmin);
  for (let attempt = 1; ; attempt++) {
    const [existing, pending] = await Promise.all([
      existingMembers(ddb, tables, conversationId, requested),
      existingInvitations(
        ddb,
        tables,
        conversationId,
        requested.filter((userId) => input.consent?.get(userId)?.invite),
      ),
    ]);
    const admissions = requested
      .filter((userId) => !existing.has(userId) && !pending.has(userId))
      .map((userId): Admission => {
        const consent = input.consent?.get(userId);
        return { userId, invite: consent?.invite === true, ...(consent?.seen ? { seen: consent.seen } : {}) };
      });
    const added = admissions.filter((admission) => !admission.invite).map((admission) => admission.userId);
    const invited = admissions.filter((admission) => admission.invite).map((admission) => admission.userId);
    if (admissions.length === 0) return { added, invited };
    const runs = chunk(admissions, Math.floor((MAX_TRANSACTION_ITEMS - CONVERSATION_ITEMS) / size));
    let done = 0;
    let joined = 0;
    try {
      for (const run of runs) {
        const joiningIds = run.filter((admission) => !admission.invite).map((admission) => admission.userId);
        const joining = joiningIds.length;
        await ddb.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: tables.conversations,
                  Key: { conversationId, sk: META_SK },
                  UpdateExpression: 'ADD memberCount :added',
                  ConditionExpression:
                    'attribute_exists(conversationId) AND attribute_not_exists(direct) AND memberCount <= :room',
                  // The room the rest of this add needs: the runs before this one are in memberCount already.
                  ExpressionAttributeValues: {
                    ':added': joining,
                    ':room': LIMITS.maxGroupSize - (added.length - joined),
                  },
                  ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
                },
              },
              ...run.flatMap((admission) => admissionUnit(tables, context, admission)),
              ...(joining > 0 ? [changeRoster(tables, conversationId, 'ADD', joiningIds)] : []),
            ],
          }),
        );
        done += 1;
        joined += joining;
      }
      return { added, invited };
    } catch (err: unknown) {
      await undoUnits(ddb, tables, conversationId, runs.slice(0, done).flat(), { memberCount: true });
      const reasons = cancellationReasons(err);
      if (reasons === undefined) throw err;
      refuseAdd(reasons, { admissions: runs[done] ?? [], context, added: added.length - joined });
      // Someone added one of these users meanwhile (or the transaction conflicted): look again.
      if (attempt >= ADD_MEMBERS_ATTEMPTS) throw err;
    }
  }
}

/** Throws the refusal an add's cancelled transaction stands for; returns when it is a race worth another look. */
function refuseAdd(
  reasons: { Code?: string; Item?: Record<string, unknown> }[],
  run: { admissions: Admission[]; context: AdmissionContext; added: number },
): void {
  const { conversationId } = run.context;
  const meta = reasons[0];
  if (meta?.Code === 'ConditionalCheckFailed') {
    const item = meta.Item as { direct?: unknown; memberCount?: { N?: string } } | undefined;
    if (item === undefined) throw new NotAMemberError(conversationId);
    if (item.direct) {
      throw new ValidationError(['conversationId: a direct conversation has exactly its two members']);
    }
    const count = Number(item.memberCount?.N);
    throw groupTooLarge(Number.isFinite(count) ? count + run.added : LIMITS.maxGroupSize + 1);
  }
  for (const [index, reason] of reasons.entries()) {
    const refusal = index === 0 ? undefined : unitRefusal(reason, index - 1, run);
    if (refusal !== undefined) throw refusal;
  }
}

/**
 * Undoes units a refused creation or add wrote before the refusal: deletes their member items or
 * invitations (only if they are still there), gives their slots back and, for an add, takes the members
 * off META `memberCount` and the roster.
 */
async function undoUnits(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  admissions: Admission[],
  options: { memberCount?: boolean } = {},
): Promise<void> {
  for (const run of chunk(admissions, Math.floor((MAX_TRANSACTION_ITEMS - CONVERSATION_ITEMS) / 2))) {
    const memberIds = run.filter((admission) => !admission.invite).map((admission) => admission.userId);
    const members = memberIds.length;
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          ...run.flatMap((admission) => undoUnit(tables, conversationId, admission)),
          ...(options.memberCount === true && members > 0
            ? [
                {
                  Update: {
                    TableName: tables.conversations,
                    Key: { conversationId, sk: META_SK },
                    UpdateExpression: 'ADD memberCount :minus',
                    ExpressionAttributeValues: { ':minus': -members },
                  },
                },
                changeRoster(tables, conversationId, 'DELETE', memberIds),
              ]
            : []),
        ],
      }),
    );
  }
}

/**
 * Removes `userId`: one transaction deletes the member item (only if it is there), decrements META
 * `memberCount`, takes them off the roster, gives back the user's conversation slot (when their member item took one: `counted`),
 * writes the removal record (replacing that of an earlier removal of the same user, who was added again
 * since), and carries `also`: the conditions and role changes that keep the conversation an admin
 * (see lambdas/conversations/membership/remove.ts).
 * @returns `removed`; `not_a_member` when the user was not a member any more (removed by a concurrent
 * request a moment ago); `roles_changed` when a condition of `also` failed. Nothing is written then.
 */
export async function removeMemberItem(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  userId: string,
  removal: { record: RemovalRecord; counted: boolean; also?: TransactItem[] },
): Promise<'removed' | 'not_a_member' | 'roles_changed'> {
  try {
    await ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          ...memberDeparture(tables, conversationId, userId),
          {
            Put: {
              TableName: tables.conversations,
              Item: { conversationId, sk: removalSk(userId), ...removal.record },
            },
          },
          changeRoster(tables, conversationId, 'DELETE', [userId]),
          ...(removal.counted ? [giveBackConversationSlot(tables, userId)] : []),
          ...(removal.also ?? []),
        ],
      }),
    );
    return 'removed';
  } catch (err: unknown) {
    const reasons = cancellationReasons(err);
    if (reasons?.[0]?.Code === 'ConditionalCheckFailed') return 'not_a_member';
    if (reasons?.some((reason) => reason.Code === 'ConditionalCheckFailed')) return 'roles_changed';
    throw err;
  }
}

/**
 * The two transaction items of a member's departure: their member item deleted (refused when it is not
 * there, so a departure happens once) and one taken off META `memberCount`.
 */
export function memberDeparture(tables: Tables, conversationId: string, userId: string): TransactItem[] {
  return [
    {
      Delete: {
        TableName: tables.conversations,
        Key: { conversationId, sk: memberSk(userId) },
        ConditionExpression: 'attribute_exists(conversationId)',
      },
    },
    {
      Update: {
        TableName: tables.conversations,
        Key: { conversationId, sk: META_SK },
        UpdateExpression: 'ADD memberCount :minusOne',
        ConditionExpression: 'attribute_exists(conversationId)',
        ExpressionAttributeValues: { ':minusOne': -1 },
      },
    },
  ];
}

/** `items` in runs of at most `size`. */
function chunk<T>(items: T[], size: number): T[][] {
  const runs: T[][] = [];
  for (let start = 0; start < items.length; start += size) runs.push(items.slice(start, start + size));
  return runs;
}
