/** Subscribing to a conversation: the subscription first, then the backlog (G5). */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NotAMemberError } from '../../shared/errors';
import type { MetricSink } from '../../shared/metrics';
import type { MessagesPage } from '../../shared/protocol';
import { deleteSubscription, putSubscription } from '../../shared/store/connections';
import { isRoomId, readCounter, requireMember } from '../../shared/store/conversations';
import { messagesAfter } from '../../shared/store/messages';
import type { TableNames } from '../../shared/tables';

/**
 * Registers the connection's subscription, then reads the backlog after `afterSeq` and the META
 * counter. The order is guarantee G5: a message missing from the backlog was committed after the
 * subscription was stored, so its fan-out (which lists subscribers after the commit) pushes it live.
 * Without `afterSeq` the client wants live messages only; `lastSeq` tells it where it stands.
 * When `hasMore` is true the client subscribes again with `afterSeq` = the last seq it received.
 * The tombstones the backlog read fills are counted in `metrics`.
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

/**
 * Checks, after `subscribe` stored its subscription, that the caller is still a member, and takes the
 * subscription back if not. A removal deletes the member item and then lists the subscriptions; a
 * subscribe stores its subscription and then reads the member item. Both read consistently, so at least
 * one of them sees the other's write: a subscribe racing the removal of its user never leaves a
 * subscription that the fan-out would keep feeding. One consistent GetItem per subscribe.
 * @throws NotAMemberError when the caller was removed meanwhile (the subscription is deleted first).
 */
export async function confirmSubscriber(
  deps: {
    ddb: DynamoDBDocumentClient;
    tables: Pick<TableNames, 'conversations' | 'subscriptions' | 'connections'>;
  },
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
