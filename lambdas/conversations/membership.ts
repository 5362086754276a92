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
 * - A removal survives its own failures: the transaction that deletes the member item also writes a
 *   removal record (`REMOVED#<userId>`), which later gets the change's seq. A resend that finds the
 *   record finishes what the first attempt left (subscriptions, the change, its enqueue) and is acked
 *   as the first attempt would have been, so a step that failed never leaves a removed member listening
 *   or a change out of the order.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  type DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { z } from 'zod';
import { mapWithConcurrency } from '../../shared/concurrency';
import { postEphemeral } from '../../shared/ephemeral';
import {
  BusyError,
  cancellationReasons,
  isAwsError,
  NotAMemberError,
  NotAnAdminError,
  ValidationError,
} from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import type { PostFn } from '../../shared/poster';
import {
  leaveFrameSchema,
  type MembershipChangeAck,
  type MembershipFrame,
  type MembershipKind,
  removeMemberFrameSchema,
} from '../../shared/protocol';
import type { MembershipEvent } from '../../shared/queue-body';
import { batchGetAll } from '../../shared/store/batch';
import { deleteSubscription } from '../../shared/store/connections';
import { requireMember, reserveSeq } from '../../shared/store/conversations';
import { enqueue } from '../../shared/store/fanout-queue';
import { indexedConnections, listListeners } from '../../shared/store/presence';
import { META_SK, memberSk, type TableNames } from '../../shared/tables';
import { type RouteDefinition, route } from '../../shared/websocket';

/** Reservations tried when a reader filled the reserved seq first (a change slower than the writer lease). */
const RESERVE_ATTEMPTS = 3;

/** byUser lookups at once when a change names several users. */
const NAMED_LOOKUP_CONCURRENCY = 10;

/**
 * How long after a removal began a request from its caller for the same user counts as a resend of it:
 * the writer lease, then SQS's 5-minute deduplication window, inside which its re-enqueue is a no-op.
 */
export const REMOVAL_RESEND_WINDOW_MS = LIMITS.writerLeaseMs + 5 * 60_000;

/** How long a resend waits when another resend took an unfinished removal over a moment ago. */
const TAKEN_OVER_RETRY_MS = 250;

export interface MembershipDeps {
  ddb: DynamoDBDocumentClient;
  sqs: Pick<SQSClient, 'send'>;
  tables: Pick<TableNames, 'conversations' | 'messages' | 'subscriptions' | 'connections'>;
  fanoutQueueUrl: string;
  logger: Pick<Logger, 'info'>;
  clock: () => Date;
  /** Posts to the connections of the users a change names (see tellNamedUsers). @default none */
  post?: PostFn;
}

/** A member's role: the creator is an admin, everyone added later a member. */
export type MemberRole = 'admin' | 'member';

/**
 * Stores a membership change under the next seq and enqueues it in the conversation's FIFO group.
 * Three requests: UpdateItem META (`ADD lastSeq 1`, `SET lastReservedAt`), PutItem of the entry only if
 * the slot is empty, SendMessage (dedup id `conversationId:seq`). If the process dies between the
 * reservation and the put, a reader fills the seq with a tombstone, as for a send. `onStored` runs once
 * the entry is stored and before it is enqueued, so whoever must find the change again (a removal's
 * record) learns its seq before anything that could fail after it.
 * @returns the change's seq.
 */
export async function recordMembershipChange(
  deps: Pick<MembershipDeps, 'ddb' | 'sqs' | 'tables' | 'fanoutQueueUrl' | 'post'>,
  change: { conversationId: string; kind: MembershipKind; userIds: string[]; by: string; now: Date },
  onStored: (seq: number, at: string) => Promise<void> = async () => undefined,
): Promise<number> {
  const { conversationId } = change;
  const at = change.now.toISOString();
  for (let attempt = 1; attempt <= RESERVE_ATTEMPTS; attempt++) {
    const seq = await reserveSeq(deps, conversationId, at);
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
    await onStored(seq, at);
    const event: MembershipEvent = {
      kind: 'membership',
      conversationId,
      seq,
      event: change.kind,
      userIds: change.userIds,
      by: change.by,
      at,
    };
    await enqueue(deps.sqs, deps.fanoutQueueUrl, event);
    await tellNamedUsers(deps, event);
    return seq;
  }
  throw new BusyError('Could not store the membership change; try again', 1_000);
}

/**
 * Posts the change, as the `membership` frame subscribers get, to every connection of the users it
 * names: the added, the removed, the one who left. None of those connections subscribes to the
 * conversation (an added user's never did, a removed user's subscriptions ended before the enqueue), so
 * the fan-out reaches none of them, and without this a conversation list would learn of the change only
 * on its next refresh. One keys-only byUser Query per user named (at most LIMITS.maxGroupSize - 1, for
 * the largest add), then the posts; best effort like typing: it never throws.
 */
async function tellNamedUsers(
  deps: Pick<MembershipDeps, 'ddb' | 'tables' | 'post'>,
  event: MembershipEvent,
): Promise<void> {
  const { post } = deps;
  if (post === undefined) return;
  const frame: MembershipFrame = {
    type: 'membership',
    conversationId: event.conversationId,
    seq: event.seq,
    event: event.event,
    userIds: event.userIds,
    by: event.by,
    at: event.at,
  };
  const found = await mapWithConcurrency(event.userIds, NAMED_LOOKUP_CONCURRENCY, (userId) =>
    indexedConnections(deps.ddb, deps.tables, userId),
  );
  const connections = found.flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
  await postEphemeral(post, connections, JSON.stringify(frame));
}

/** The sort key of the record of `userId`'s latest removal from the conversation. */
export const removalSk = (userId: string): string => `REMOVED#${userId}`;

/**
 * The record of a removal, written in the transaction that deletes the member item: who removed whom,
 * how, and when its current attempt began (`claimedAt`, ms); `seq` and `at` once the change is stored.
 */
interface RemovalRecord {
  kind: MembershipKind;
  by: string;
  claimedAt: number;
  seq?: number;
  at?: string;
}

/** META, the member items of the caller and the target, and the target's removal record: one strongly consistent BatchGetItem. */
async function readMembership(
  deps: Pick<MembershipDeps, 'ddb' | 'tables'>,
  conversationId: string,
  callerId: string,
  userId: string,
): Promise<{
  meta?: Record<string, unknown>;
  caller?: Record<string, unknown>;
  target?: Record<string, unknown>;
  removal?: RemovalRecord;
}> {
  const keys = [META_SK, memberSk(callerId), memberSk(userId), removalSk(userId)];
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
  const removal = bySk.get(removalSk(userId)) as RemovalRecord | undefined;
  return {
    ...(meta === undefined ? {} : { meta }),
    ...(caller === undefined ? {} : { caller }),
    ...(target === undefined ? {} : { target }),
    ...(removal === undefined ? {} : { removal }),
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
 * that deletes the member item (only if it is there), decrements META `memberCount` and writes the
 * removal record; then ends the user's subscriptions, records the change (see
 * {@link recordMembershipChange}) and gives the record its seq; the ack comes after.
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
  const isAdmin = caller.role === 'admin' || (caller.role === undefined && meta.createdBy === callerId);
  if (!leaving && !isAdmin) throw new NotAnAdminError(conversationId);
  const unchanged = { conversationId, userId, removed: false };
  if (target === undefined) return unchanged;
  const record: RemovalRecord = {
    kind: leaving ? 'member_left' : 'member_removed',
    by: callerId,
    claimedAt: deps.clock().getTime(),
  };
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
          {
            // Replaces the record of an earlier removal of the same user, who was added again since.
            Put: {
              TableName: deps.tables.conversations,
              Item: { conversationId, sk: removalSk(userId), ...record },
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
  return completeRemoval(deps, conversationId, userId, record);
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
    try {
      await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.tables.conversations,
          Key: { conversationId, sk: removalSk(userId) },
          UpdateExpression: 'SET seq = :seq, #at = :at',
          ConditionExpression: 'attribute_exists(conversationId) AND attribute_not_exists(seq)',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':seq': seq, ':at': at },
        }),
      );
    } catch (err: unknown) {
      // Another attempt gave the record its seq first (it outlived its lease): this change stands too.
      if (!isAwsError(err, 'ConditionalCheckFailedException')) throw err;
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
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.conversations,
        Key: { conversationId, sk: removalSk(userId) },
        UpdateExpression: 'SET claimedAt = :now',
        ConditionExpression: 'claimedAt = :stale AND attribute_not_exists(seq)',
        ExpressionAttributeValues: { ':now': now, ':stale': removal.claimedAt },
      }),
    );
  } catch (err: unknown) {
    // Another resend took it over (or finished it) a moment ago.
    if (isAwsError(err, 'ConditionalCheckFailedException')) {
      throw new BusyError('This removal is being finished by another attempt', TAKEN_OVER_RETRY_MS);
    }
    throw err;
  }
  deps.logger.info('Took over a removal whose first attempt is gone');
  return completeRemoval(deps, conversationId, userId, { ...removal, claimedAt: now });
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
