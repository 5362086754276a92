/** Subscribing to a conversation: the subscription first, then the backlog (G5). */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NotAMemberError } from '../../shared/errors';
import type { MetricSink } from '../../shared/metrics';
import type { MessagesPage } from '../../shared/protocol';
import { putSubscription } from '../../shared/store/connections';
import { isRoomId, readCounter, stillMember } from '../../shared/store/conversations';
import { messagesAfter } from '../../shared/store/messages';
import type { TableNames } from '../../shared/tables';

/**
 * Registers the connection's subscription, then reads the backlog after `afterSeq` and the META
 * counter. The order is guarantee G5: a message missing from the backlog was committed after the
 * subscription was stored, so its fan-out (which lists subscribers after the commit) pushes it live.
 * Without `afterSeq` the client wants live messages only; `lastSeq` tells it where it stands.
 * When `hasMore` is true the client subscribes again with `afterSeq` = the last seq it received.
 * The tombstones the backlog read fills are counted in `metrics`.
 *
 * The membership check is a condition of the subscription's own transaction (the caller's member item
 * must exist as it commits), so a non-member's subscribe writes nothing, and a subscribe racing the
 * removal of its user never leaves a subscription behind: a removal deletes the member item and then
 * lists the subscriptions, so either the transaction committed first and the listing finds it, or the
 * member item is gone and the transaction writes nothing. It used to be a consistent GetItem before the
 * write and another after it (deleting the subscription if the user had gone); the condition does both.
 * @throws NotAMemberError when the caller is not a member; nothing is written.
 */
export async function subscribe(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations' | 'subscriptions' | 'connections' | 'messages'>,
  frame: { conversationId: string; afterSeq?: number | undefined },
  caller: { userId: string; connectionId: string; tokenExpiresAt?: number },
  now: Date,
  metrics: MetricSink,
): Promise<MessagesPage> {
  const { conversationId, afterSeq } = frame;
  const { connectionId, userId, tokenExpiresAt } = caller;
  await putSubscription(
    ddb,
    tables,
    { conversationId, connectionId, userId, ...(tokenExpiresAt === undefined ? {} : { tokenExpiresAt }) },
    now,
    {
      check: stillMember(tables, conversationId, userId),
      refusal: () => new NotAMemberError(conversationId),
    },
  );
  const counter = await readCounter(ddb, tables, conversationId);
  const page =
    afterSeq === undefined
      ? { messages: [], hasMore: false }
      : await messagesAfter(ddb, tables, conversationId, afterSeq, { ...counter, now }, metrics);
  // A send that reserved its seq after the counter was read may already be in the backlog.
  const lastSeq = Math.max(counter.lastSeq, page.messages.at(-1)?.seq ?? 0);
  // A room's viewer count comes with the counter, in the same read.
  const viewers = isRoomId(conversationId) ? counter.memberCount : undefined;
  return {
    conversationId,
    messages: page.messages,
    hasMore: page.hasMore,
    lastSeq,
    ...(viewers === undefined ? {} : { memberCount: viewers }),
  };
}
