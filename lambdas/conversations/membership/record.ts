/**
 * A membership change in the conversation's order: it takes a seq like a message, is stored at that seq
 * and enqueued in the conversation's FIFO group, and the users it names hear of it directly.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BusyError } from '../../../shared/errors';
import type { PostFn } from '../../../shared/poster';
import type { MembershipFrame, MembershipKind } from '../../../shared/protocol';
import type { MembershipEvent } from '../../../shared/queue-body';
import { reserveSeq } from '../../../shared/store/conversations';
import { enqueue } from '../../../shared/store/fanout-queue';
import { putMembershipEntry } from '../../../shared/store/messages';
import type { TableNames } from '../../../shared/tables';
import { postToUsers } from './consent';

/** Reservations tried when a reader filled the reserved seq first (a change slower than the writer lease). */
const RESERVE_ATTEMPTS = 3;

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
    const entry = { conversationId, seq, kind: change.kind, userIds: change.userIds, by: change.by, at };
    // A reader filled the slot with a tombstone first: reserve another seq.
    if (!(await putMembershipEntry(deps.ddb, deps.tables, entry))) continue;
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
 * names: the added (by an add, or by the group's creation: ./create.ts), the removed, the one who left.
 * None of those connections subscribes to the conversation (an added user's never did, a removed user's
 * subscriptions ended before the enqueue), so the fan-out reaches none of them, and without this a
 * conversation list would learn of the change only on its next refresh. One keys-only byUser Query per
 * user named (at most LIMITS.maxGroupSize - 1, for the largest add or creation), then the posts; best
 * effort like typing: it never throws.
 */
export async function tellNamedUsers(
  deps: Pick<MembershipDeps, 'ddb' | 'tables' | 'post'>,
  event: MembershipEvent,
): Promise<void> {
  const { post } = deps;
  // A promoted user is a member, whom the fan-out reaches like every listener.
  if (post === undefined || event.event === 'member_promoted') return;
  const frame: MembershipFrame = {
    type: 'membership',
    conversationId: event.conversationId,
    seq: event.seq,
    event: event.event,
    userIds: event.userIds,
    by: event.by,
    at: event.at,
  };
  await postToUsers({ ddb: deps.ddb, tables: deps.tables, post }, event.userIds, JSON.stringify(frame));
}
