/**
 * What one user contributes to a transaction that creates a conversation or adds to one: a *unit* of
 * items of the same shape for a member and for an invitee, so a cancelled transaction's reasons name
 * the user and the item by position:
 *
 * - 0: the member item (`MEMBER#<userId>`), or the invitation (`USER#<userId>` / `INVITE#<conversationId>`),
 *   put only if it is not there;
 * - 1: the user's profile item: a member takes a conversation slot (the cap), an invitee a pending
 *   invitation (LIMITS.maxPendingInvitations); refused when the user blocks whoever adds them, or when
 *   their `whoCanAdd` is no longer what the caller read (./profiles.ts);
 * - 2 (when the caller is no admin): the check that no admin removed the user (their `REMOVED#` record).
 */
import type { TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import {
  BusyError,
  type ChatError,
  LimitExceededError,
  NotAllowedError,
  NotAnAdminError,
} from '../../errors';
import { LIMITS } from '../../limits';
import type { WhoCanAdd } from '../../protocol';
import { memberSk, type TableNames } from '../../tables';
import {
  giveBackConversationSlot,
  PROFILE_SK,
  takeConversationSlot,
  takeProfileCount,
  userPk,
} from './profiles';
import { removalSk } from './removals';

type Tables = Pick<TableNames, 'conversations'>;

/** One item of a TransactWriteItems call. */
export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** A member's role: the creator is an admin, everyone added later a member until an admin promotes them. */
export type MemberRole = 'admin' | 'member';

/** The sort key of `userId`'s invitation to a conversation, in their own partition. */
export const invitationSk = (conversationId: string): string => `INVITE#${conversationId}`;

/** How the caller sorted one user: a member at once, or an invitee, and the `whoCanAdd` it read for them. */
export interface Admission {
  userId: string;
  invite: boolean;
  /** Their setting as read, which the transaction checks is unchanged; none for the caller or a direct conversation. */
  seen?: WhoCanAdd;
}

/** Who adds, to what, and when: the same for every unit of one request. */
export interface AdmissionContext {
  conversationId: string;
  by: string;
  at: string;
  byAdmin: boolean;
  title?: string;
  /** The role of each new member item; the creator is an admin. */
  roleOf: (userId: string) => MemberRole;
}

/** Items in one unit: 2, or 3 when the caller is no admin (see the module comment). */
export const unitSize = (byAdmin: boolean): number => (byAdmin ? 2 : 3);

/** The unit of items that admits one user (see the module comment). */
export function admissionUnit(
  tables: Tables,
  context: AdmissionContext,
  admission: Admission,
): TransactItem[] {
  const { conversationId, by, at } = context;
  const { userId, seen } = admission;
  const first: TransactItem = admission.invite
    ? {
        Put: {
          TableName: tables.conversations,
          Item: {
            conversationId: userPk(userId),
            sk: invitationSk(conversationId),
            invitedTo: conversationId,
            invitedBy: by,
            invitedAt: at,
            byAdmin: context.byAdmin,
            ...(context.title === undefined ? {} : { title: context.title }),
          },
          ConditionExpression: 'attribute_not_exists(conversationId)',
        },
      }
    : {
        Put: {
          TableName: tables.conversations,
          Item: {
            conversationId,
            sk: memberSk(userId),
            memberId: userId,
            joinedAt: at,
            addedBy: by,
            role: context.roleOf(userId),
            // Its slot is given back on removal; items written before the cap took none.
            counted: true,
          },
          // A colliding id must fail, never join someone else's conversation.
          ConditionExpression: 'attribute_not_exists(conversationId)',
        },
      };
  const profile = admission.invite
    ? takeInvitationSlot(tables, userId, by, seen)
    : takeConversationSlot(tables, userId, by, seen);
  return [first, profile, ...(context.byAdmin ? [] : [notRemovedByAnAdmin(tables, conversationId, userId)])];
}

/** The unit of items that undoes `admission` when a later transaction of the same request was refused. */
export function undoUnit(tables: Tables, conversationId: string, admission: Admission): TransactItem[] {
  const { userId } = admission;
  if (admission.invite) return undoInvitation(tables, conversationId, userId);
  return [
    {
      Delete: {
        TableName: tables.conversations,
        Key: { conversationId, sk: memberSk(userId) },
        ConditionExpression: 'attribute_exists(conversationId)',
      },
    },
    giveBackConversationSlot(tables, userId),
  ];
}

/** The transaction item that deletes `userId`'s invitation to the conversation, refused when it is not there. */
export function invitationDelete(tables: Tables, conversationId: string, userId: string): TransactItem {
  return {
    Delete: {
      TableName: tables.conversations,
      Key: { conversationId: userPk(userId), sk: invitationSk(conversationId) },
      ConditionExpression: 'attribute_exists(conversationId)',
    },
  };
}

/** Deletes `userId`'s invitation to the conversation (only if it is there) and gives back its pending slot. */
export function undoInvitation(tables: Tables, conversationId: string, userId: string): TransactItem[] {
  return [
    invitationDelete(tables, conversationId, userId),
    {
      Update: {
        TableName: tables.conversations,
        Key: { conversationId: userPk(userId), sk: PROFILE_SK },
        UpdateExpression: 'ADD invitationCount :minusOne',
        ExpressionAttributeValues: { ':minusOne': -1 },
      },
    },
  ];
}

/** Takes one of `userId`'s pending invitations, refused like a conversation slot (see takeProfileCount). */
function takeInvitationSlot(
  tables: Tables,
  userId: string,
  by: string,
  seen: WhoCanAdd | undefined,
): TransactItem {
  return takeProfileCount(
    tables,
    userId,
    { counter: 'invitationCount', cap: LIMITS.maxPendingInvitations },
    by,
    seen,
  );
}

/** The condition that `userId`'s latest departure, if any, was no admin's removal. */
export function notRemovedByAnAdmin(tables: Tables, conversationId: string, userId: string): TransactItem {
  return {
    ConditionCheck: {
      TableName: tables.conversations,
      Key: { conversationId, sk: removalSk(userId) },
      ConditionExpression: 'attribute_not_exists(conversationId) OR #kind <> :removed',
      ExpressionAttributeNames: { '#kind': 'kind' },
      ExpressionAttributeValues: { ':removed': 'member_removed' },
    },
  };
}

/**
 * The refusal that a failed condition at `index` of a run of units stands for, or undefined when it is a
 * race worth another look (a member item or invitation put by a concurrent request).
 */
export function unitRefusal(
  reason: { Code?: string; Item?: Record<string, unknown> },
  index: number,
  run: { admissions: Admission[]; context: AdmissionContext },
): ChatError | undefined {
  const { admissions, context } = run;
  const size = unitSize(context.byAdmin);
  const admission = admissions[Math.floor(index / size)];
  if (reason.Code !== 'ConditionalCheckFailed' || admission === undefined) return undefined;
  const { userId } = admission;
  const which = index % size;
  if (which === 2)
    return new NotAnAdminError(context.conversationId, `add back ${userId}, whom an admin removed`);
  if (which === 0) return undefined;
  return profileRefusal(reason.Item, admission, context.by);
}

/**
 * Why a profile condition refused `admission` (the item as DynamoDB returned it, marshalled): a block
 * answers `forbidden` in words that do not say who blocked whom; a full cap says whose it is; a setting
 * changed since it was read asks for a resend, which reads it again.
 */
export function profileRefusal(
  item: Record<string, unknown> | undefined,
  admission: Admission,
  by: string,
): ChatError {
  const { userId, seen } = admission;
  const blocked = (item?.blocked as { SS?: string[] } | undefined)?.SS ?? [];
  if (blocked.includes(by)) return new NotAllowedError(`You cannot add ${userId} to a conversation`);
  const setting = (item?.whoCanAdd as { S?: string } | undefined)?.S ?? LIMITS.defaultWhoCanAdd;
  if (seen !== undefined && setting !== seen) {
    return new BusyError(`${userId} changed who may add them a moment ago`, 100);
  }
  if (admission.invite) {
    return new LimitExceededError(
      `${userId} has ${LIMITS.maxPendingInvitations} pending invitations, the most one user may have`,
    );
  }
  const cap = LIMITS.maxConversationsPerUser;
  return new LimitExceededError(
    userId === by
      ? `You are in ${cap} conversations, the most one user may be in; leave one first`
      : `${userId} is in ${cap} conversations, the most one user may be in`,
  );
}
