/**
 * Membership changes as events in the conversation's order: `removeMember` and `leave`, and the event
 * `addMembers` records. A change takes a seq like a message (the atomic `ADD lastSeq 1` on META), is
 * stored at that seq in the messages table with a conditional put, and is enqueued in the conversation's
 * FIFO group, where the fan-out pushes it as `{type:'membership'}` after the messages before it.
 *
 * - Anyone may leave; only the creator (META `createdBy`) or an admin (`role: 'admin'` on the member
 *   item; the creator is one) removes someone else. `addMembers` adds plain members: nobody is made an
 *   admin after creation.
 * - Direct conversations refuse both: they have exactly their two members, and nobody could re-add one.
 * - A removed member stops receiving at once: their member item and their subscriptions to the
 *   conversation are deleted before the event is enqueued, so no later fan-out reaches them, and every
 *   route's member check refuses them from then on.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  type DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { z } from 'zod';
import {
  BusyError,
  cancellationReasons,
  isAwsError,
  NotAMemberError,
  NotAnAdminError,
  ValidationError,
} from '../../shared/errors';
import {
  leaveFrameSchema,
  type MembershipChangeAck,
  type MembershipKind,
  removeMemberFrameSchema,
} from '../../shared/protocol';
import { encodeQueueBody, type MembershipEvent } from '../../shared/queue-body';
import { batchGetAll } from '../../shared/store/batch';
import { deleteSubscription } from '../../shared/store/connections';
import { requireMember } from '../../shared/store/conversations';
import { listListeners } from '../../shared/store/presence';
import { META_SK, memberSk, type TableNames } from '../../shared/tables';
import { type RouteDefinition, route } from '../../shared/websocket';

/** Reservations tried when a reader filled the reserved seq first (a change slower than the writer lease). */
const RESERVE_ATTEMPTS = 3;

export interface MembershipDeps {
  ddb: DynamoDBDocumentClient;
  sqs: Pick<SQSClient, 'send'>;
  tables: Pick<TableNames, 'conversations' | 'messages' | 'subscriptions' | 'connections'>;
  fanoutQueueUrl: string;
  logger: Pick<Logger, 'info'>;
  clock: () => Date;
}

/** A member's role: the creator is an admin, everyone added later a member. */
export type MemberRole = 'admin' | 'member';

/**
 * Stores a membership change under the next seq and enqueues it in the conversation's FIFO group.
 * Three requests: UpdateItem META (`ADD lastSeq 1`, `SET lastReservedAt`), PutItem of the entry only if
 * the slot is empty, SendMessage (dedup id `conversationId:seq`). If the process dies between the
 * reservation and the put, a reader fills the seq with a tombstone, as for a send.
 * @returns the change's seq.
 */
export async function recordMembershipChange(
  deps: Pick<MembershipDeps, 'ddb' | 'sqs' | 'tables' | 'fanoutQueueUrl'>,
  change: { conversationId: string; kind: MembershipKind; userIds: string[]; by: string; now: Date },
): Promise<number> {
  const { conversationId } = change;
  const at = change.now.toISOString();
  for (let attempt = 1; attempt <= RESERVE_ATTEMPTS; attempt++) {
    const { Attributes } = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.conversations,
        Key: { conversationId, sk: META_SK },
        UpdateExpression: 'ADD lastSeq :one SET lastReservedAt = :at',
        ConditionExpression: 'attribute_exists(conversationId)',
        ExpressionAttributeValues: { ':one': 1, ':at': at },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const seq = Number(Attributes?.lastSeq);
    try {
      await deps.ddb.send(
        new PutCommand({
          TableName: deps.tables.messages,
          // sentAt dates the holes below this seq, as a message's does (shared/store/messages.ts).
          Item: {
            conversationId,
            seq,
            kind: change.kind,
            userIds: change.userIds,
            by: change.by,
            at,
            sentAt: at,
          },
          ConditionExpression: 'attribute_not_exists(conversationId)',
        }),
      );
    } catch (err: unknown) {
      if (isAwsError(err, 'ConditionalCheckFailedException')) continue;
      throw err;
    }
    const event: MembershipEvent = {
      kind: 'membership',
      conversationId,
      seq,
      event: change.kind,
      userIds: change.userIds,
      by: change.by,
      at,
    };
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: deps.fanoutQueueUrl,
        MessageGroupId: conversationId,
        MessageDeduplicationId: `${conversationId}:${seq}`,
        MessageBody: encodeQueueBody(event),
      }),
    );
    return seq;
  }
  throw new BusyError('Could not store the membership change; try again', 1_000);
}

/** META and the member items of the caller and the target: one strongly consistent BatchGetItem. */
async function readMembership(
  deps: Pick<MembershipDeps, 'ddb' | 'tables'>,
  conversationId: string,
  callerId: string,
  userId: string,
): Promise<{
  meta?: Record<string, unknown>;
  caller?: Record<string, unknown>;
  target?: Record<string, unknown>;
}> {
  const keys = [META_SK, memberSk(callerId), memberSk(userId)];
  const items = await batchGetAll(
    deps.ddb,
    deps.tables.conversations,
    [...new Set(keys)].map((sk) => ({ conversationId, sk })),
    { consistentRead: true },
  );
  const bySk = new Map(items.map((item) => [String(item.sk), item]));
  const meta = bySk.get(META_SK);
  const caller = bySk.get(memberSk(callerId));
  const target = bySk.get(memberSk(userId));
  return {
    ...(meta === undefined ? {} : { meta }),
    ...(caller === undefined ? {} : { caller }),
    ...(target === undefined ? {} : { target }),
  };
}

/**
 * Checks, after `subscribe` stored its subscription, that the caller is still a member, and takes the
 * subscription back if not. A removal deletes the member item and then lists the subscriptions; a
 * subscribe stores its subscription and then reads the member item. Both read consistently, so at least
 * one of them sees the other's write: a subscribe racing the removal of its user never leaves a
 * subscription that the fan-out would keep feeding. One consistent GetItem per subscribe.
 * @throws NotAMemberError when the caller was removed meanwhile (the subscription is deleted first).
 */
export async function confirmSubscriber(
  deps: Pick<MembershipDeps, 'ddb' | 'tables'>,
  conversationId: string,
  caller: { userId: string; connectionId: string },
): Promise<void> {
  try {
    await requireMember(deps.ddb, deps.tables, conversationId, caller.userId);
  } catch (err: unknown) {
    if (err instanceof NotAMemberError) {
      await deleteSubscription(deps.ddb, deps.tables, { conversationId, connectionId: caller.connectionId });
    }
    throw err;
  }
}

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
 * that deletes the member item (only if it is there) and decrements META `memberCount`, then ends the
 * user's subscriptions, then records the change (see {@link recordMembershipChange}); the ack comes after.
 * A user who is not a member (a resend) is acked `removed: false` and nothing is written.
 * @throws NotAMemberError when the caller is not a member (or the conversation does not exist).
 * @throws ValidationError for a direct conversation.
 * @throws NotAnAdminError when the caller removes someone else without being the creator or an admin.
 */
export async function removeMember(
  deps: MembershipDeps,
  input: { conversationId: string; userId: string; callerId: string },
): Promise<MembershipChangeAck> {
  const { conversationId, userId, callerId } = input;
  const { meta, caller, target } = await readMembership(deps, conversationId, callerId, userId);
  if (meta === undefined || caller === undefined) throw new NotAMemberError(conversationId);
  if (meta.direct === true) {
    throw new ValidationError(['conversationId: a direct conversation has exactly its two members']);
  }
  const leaving = userId === callerId;
  if (!leaving && caller.role !== 'admin' && meta.createdBy !== callerId) {
    throw new NotAnAdminError(conversationId);
  }
  const unchanged = { conversationId, userId, removed: false };
  if (target === undefined) return unchanged;
  try {
    await deps.ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Delete: {
              TableName: deps.tables.conversations,
              Key: { conversationId, sk: memberSk(userId) },
              ConditionExpression: 'attribute_exists(conversationId)',
            },
          },
          {
            Update: {
              TableName: deps.tables.conversations,
              Key: { conversationId, sk: META_SK },
              UpdateExpression: 'ADD memberCount :minusOne',
              ConditionExpression: 'attribute_exists(conversationId)',
              ExpressionAttributeValues: { ':minusOne': -1 },
            },
          },
        ],
      }),
    );
  } catch (err: unknown) {
    // Removed by a concurrent request a moment ago: that one records the change.
    if (cancellationReasons(err)?.[0]?.Code === 'ConditionalCheckFailed') return unchanged;
    throw err;
  }
  await endSubscriptions(deps, conversationId, userId);
  const seq = await recordMembershipChange(deps, {
    conversationId,
    kind: leaving ? 'member_left' : 'member_removed',
    userIds: [userId],
    by: callerId,
    now: deps.clock(),
  });
  deps.logger.info(leaving ? 'Member left' : 'Member removed', { seq });
  return { conversationId, userId, removed: true, seq };
}

/** The `removeMember` and `leave` routes, for the conversations handler's route table. */
export function membershipRoutes(
  deps: MembershipDeps,
): Record<'removeMember' | 'leave', RouteDefinition<z.ZodType>> {
  return {
    removeMember: route({
      schema: removeMemberFrameSchema,
      run: async (frame, caller) => ({
        ...(await removeMember(deps, {
          conversationId: frame.conversationId,
          userId: frame.userId,
          callerId: caller.userId,
        })),
      }),
    }),
    leave: route({
      schema: leaveFrameSchema,
      run: async (frame, caller) => ({
        ...(await removeMember(deps, {
          conversationId: frame.conversationId,
          userId: caller.userId,
          callerId: caller.userId,
        })),
      }),
    }),
  };
}
