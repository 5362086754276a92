/**
 * Where a stored message is fanned out: each record of the SQS FIFO fan-out queue carries one
 * ChatMessage, an edit or delete of one, or a membership change (shared/queue-body.ts), which is pushed to every connection
 * subscribed to its conversation. Records are
 * processed in queue order within their message group (conversation), the groups side by side; a record
 * that fails fails the rest of its group so retries never reorder it, while other conversations in the
 * same batch carry on.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { mapWithConcurrency } from '../../shared/concurrency';
import { TokenExpiredError } from '../../shared/errors';
import type { MetricSink } from '../../shared/metrics';
import type { DisconnectFn, PostFn } from '../../shared/poster';
import {
  type DeletedFrame,
  type EditedFrame,
  type MembershipFrame,
  type MessageFrame,
  toMessageFrame,
} from '../../shared/protocol';
import { messageOf, parseQueueBody, type QueueRecord } from '../../shared/queue-body';
import { errorFrame } from '../../shared/route-kit';
import { deleteConnection, type Listener, listListeners } from '../../shared/store/connections';
import type { TableNames } from '../../shared/tables';
import { notifyBeyondSubscribers } from './offline';
import { sendPoisonToDeadLetterQueue } from './poison';

/** Posts in flight at once per record: enough to hide latency, few enough to stay under throttling. */
export const DEFAULT_CONCURRENCY = 10;

/**
 * Time a record may need: a hung connection costs every poster attempt at its timeout plus backoff
 * (4 × 3 s + < 1 s). A record is not started with less time left, so the function never times out
 * mid-batch (which would retry the records already delivered).
 */
export const DEFAULT_RECORD_BUDGET_MS = 15_000;

/**
 * The longest one post can take once started (DEFAULT_POSTER_OPTIONS: 4 attempts of 3 s plus their
 * backoff), and a margin for what follows the posts. A record starts no post later than this before the
 * invocation's end, so a conversation with more connections than fit in its time (or a slow, hostile
 * one) fails alone: its record is reported for retry while the others of the batch complete.
 */
export const POST_WORST_CASE_MS = 13_000;
export const RECORD_MARGIN_MS = 1_000;

export interface FanoutDeps {
  ddb: DynamoDBDocumentClient;
  sqs: Pick<SQSClient, 'send'>;
  /**
   * With `conversations`, a message also reaches members beyond its subscribers (./offline.ts): an
   * `activity` frame on their other connections, and an offline event on `eventBusName`.
   */
  tables: Pick<TableNames, 'connections' | 'subscriptions'> & Partial<Pick<TableNames, 'conversations'>>;
  /** The offline-member bus; without it no offline events are put. */
  eventBridge?: Pick<EventBridgeClient, 'send'>;
  eventBusName?: string;
  deadLetterQueueUrl: string;
  post: PostFn;
  /** Closes a connection that keeps failing while the API answers for others (G7). */
  disconnect: DisconnectFn;
  logger: Pick<Logger, 'info' | 'warn' | 'error' | 'debug' | 'appendKeys' | 'removeKeys'>;
  /** @default DEFAULT_CONCURRENCY */
  concurrency?: number;
  /** The invocation's remaining time (Lambda context); absent means no deadline. */
  remainingTimeMs?: () => number;
  /** @default DEFAULT_RECORD_BUDGET_MS */
  recordBudgetMs?: number;
  /** Where the fan-out counts evicted connections and failed records and times each record's lag. */
  metrics: MetricSink;
  /** Milliseconds since the epoch, the end point of a record's lag. @default Date.now */
  now?: () => number;
}

export interface DeliveryReport {
  subscribers: number;
  delivered: number;
  /** Answered 410: removed. */
  gone: number;
  /** Kept failing while others were reached: disconnected and removed; the client resumes with afterSeq. */
  evicted: number;
  /** Subscribed with a token that has expired since: told `token_expired`, disconnected and removed. */
  expired: number;
  /** Throttled, or failing with no connection reached: the record is retried. */
  failed: number;
  /** Not attempted: the record's deadline for starting posts passed first. The record is retried. */
  unattempted?: number;
  /** Members named in an offline event (messages only). */
  offline?: number;
  /** Members whose unsubscribed connections got an `activity` frame (messages only). */
  activity?: number;
}

/** Some connections still lack the message after their retries; SQS redelivers the record (clients dedupe by seq). */
export class FanoutDeliveryError extends Error {
  override readonly name = 'FanoutDeliveryError';
  constructor(
    message: Pick<QueueRecord, 'conversationId' | 'seq'>,
    readonly report: DeliveryReport,
  ) {
    super(
      `${report.failed} of ${report.subscribers} connections of conversation ${message.conversationId} ` +
        `did not receive seq ${message.seq}`,
    );
  }
}

/**
 * The frame pushed for a record: `message` for a message, `edited`, `deleted` or `membership` for an
 * event.
 */
export function toPushFrame(
  record: QueueRecord,
): MessageFrame | EditedFrame | DeletedFrame | MembershipFrame {
  if (!('kind' in record)) return toMessageFrame(messageOf(record));
  if (record.kind === 'edit') {
    const { kind: _, ...edit } = record;
    return { type: 'edited', ...edit };
  }
  if (record.kind === 'membership') {
    const { kind: _, ...change } = record;
    return { type: 'membership', ...change };
  }
  const { kind: _, ...deleted } = record;
  return { type: 'deleted', ...deleted };
}

type ConnectionOutcome = 'delivered' | 'gone' | 'throttled' | 'failing' | 'unattempted';

/**
 * Forgets a connection's items, including its subscription to the conversation being fanned out even
 * when the connection item is already gone; a failure here is only logged, since TTL removes what it missed.
 */
async function forgetConnection(
  deps: FanoutDeps,
  connectionId: string,
  conversationId: string,
): Promise<void> {
  try {
    await deleteConnection(deps.ddb, deps.tables, connectionId, [conversationId]);
  } catch (err: unknown) {
    deps.logger.warn('Could not delete a connection', { connectionId, error: err });
  }
}

async function deliverToConnection(
  deps: FanoutDeps,
  connectionId: string,
  conversationId: string,
  data: string,
): Promise<ConnectionOutcome> {
  const result = await deps.post(connectionId, data);
  if (result.status === 'delivered') return 'delivered';
  if (result.status === 'gone') {
    await forgetConnection(deps, connectionId, conversationId);
    return 'gone';
  }
  deps.logger.warn('Post to connection failed', {
    connectionId,
    attempts: result.attempts,
    throttled: result.throttled,
    error: result.error,
  });
  return result.throttled ? 'throttled' : 'failing';
}

/**
 * Closes a connection that kept failing while API Gateway answered for others, then forgets it. The
 * client reconnects and subscribes with afterSeq, so it gets this message from the backlog instead of
 * holding up the whole conversation behind SQS retries (G7).
 */
async function evictConnection(
  deps: FanoutDeps,
  connectionId: string,
  conversationId: string,
): Promise<void> {
  try {
    await deps.disconnect(connectionId);
  } catch (err: unknown) {
    deps.logger.warn('Could not close a failing connection', { connectionId, error: err });
  }
  await forgetConnection(deps, connectionId, conversationId);
}

/** What a connection whose token expired gets instead of the message, before it is closed. */
const TOKEN_EXPIRED_FRAME = JSON.stringify(errorFrame(new TokenExpiredError(), undefined));

/**
 * Ends the connections whose tokens expired: each is told why (one post, in place of the message's),
 * closed and forgotten, as for a 410. Its client reconnects with a fresh token and resumes with afterSeq.
 */
async function endExpired(deps: FanoutDeps, expired: Listener[], conversationId: string): Promise<void> {
  await mapWithConcurrency(expired, deps.concurrency ?? DEFAULT_CONCURRENCY, async ({ connectionId }) => {
    await deps.post(connectionId, TOKEN_EXPIRED_FRAME);
    await evictConnection(deps, connectionId, conversationId);
  });
}

/**
 * Pushes one message (or an edit or delete of one) to every subscribed connection, `concurrency` at a time,
 * except a message's sending connection (`senderConnectionId`: it has its ack). Every connection is
 * attempted before the outcome is decided, so a dead or slow one never keeps the message from others.
 * A 410 deletes that connection and its subscriptions; so does a token that expired, after telling the
 * connection `token_expired` in place of the message. A connection that still fails after its retries
 * while others were reached is evicted (closed and forgotten), so one bad socket never blocks the
 * conversation. Throttling, or every connection failing, means API Gateway itself is in trouble: then
 * the record fails and SQS retries it, and after maxReceiveCount it moves to the DLQ (G6). No post
 * starts at or after `postDeadline` (epoch ms): connections left unattempted fail the record too.
 * @throws FanoutDeliveryError when the record must be retried.
 */
export async function deliverMessage(
  deps: FanoutDeps,
  message: QueueRecord,
  postDeadline = Number.POSITIVE_INFINITY,
): Promise<DeliveryReport> {
  const now = deps.now ?? Date.now;
  // A subscription acked a moment ago must already receive the next message (G5): a consistent read.
  const subscribed = await listListeners(deps.ddb, deps.tables, message.conversationId, { consistent: true });
  // The token's exp came with the subscription: telling a live connection from an expired one costs nothing.
  const nowSeconds = now() / 1000;
  const expired = subscribed.filter(
    ({ tokenExpiresAt }) => tokenExpiresAt !== undefined && nowSeconds >= tokenExpiresAt,
  );
  // The connection that sent a message has it from its ack; an edit, delete or membership change is
  // pushed to it too, since its ack carries only the version and the SDK applies every change from pushes.
  const sender = 'kind' in message ? undefined : message.senderConnectionId;
  const listeners = subscribed.filter(
    (listener) => !expired.includes(listener) && listener.connectionId !== sender,
  );
  const connectionIds = listeners.map((listener) => listener.connectionId);
  const data = JSON.stringify(toPushFrame(message));
  const [settled] = await Promise.all([
    mapWithConcurrency(connectionIds, deps.concurrency ?? DEFAULT_CONCURRENCY, async (id) =>
      now() >= postDeadline ? 'unattempted' : deliverToConnection(deps, id, message.conversationId, data),
    ),
    endExpired(deps, expired, message.conversationId),
  ]);
  const report: DeliveryReport = {
    subscribers: subscribed.length,
    delivered: 0,
    gone: 0,
    evicted: 0,
    expired: expired.length,
    failed: 0,
  };
  const failing: string[] = [];
  let throttled = 0;
  let unattempted = 0;
  settled.forEach((outcome, index) => {
    const connectionId = connectionIds[index] ?? '';
    if (outcome.status === 'rejected') {
      deps.logger.warn('Delivery to a connection threw', { connectionId, error: outcome.reason });
      failing.push(connectionId);
    } else if (outcome.value === 'failing') failing.push(connectionId);
    else if (outcome.value === 'throttled') throttled++;
    else if (outcome.value === 'unattempted') unattempted++;
    else report[outcome.value]++;
  });
  const apiAnswered = report.delivered + report.gone > 0;
  if (throttled === 0 && apiAnswered) {
    for (const connectionId of failing) await evictConnection(deps, connectionId, message.conversationId);
    report.evicted = failing.length;
  } else {
    report.failed = failing.length + throttled;
  }
  if (unattempted > 0) {
    report.unattempted = unattempted;
    report.failed += unattempted;
  }
  // Counted before a failure is thrown: the connections are gone whether or not the record is retried.
  const letGo = report.gone + report.evicted + report.expired;
  if (letGo > 0) deps.metrics.record('connectionsEvicted', letGo);
  if (report.failed > 0) throw new FanoutDeliveryError(message, report);
  const conversations = deps.tables.conversations;
  if (!('kind' in message) && conversations !== undefined) {
    const reachedUsers = new Set<string>();
    settled.forEach((outcome, index) => {
      const userId = listeners[index]?.userId;
      if (userId !== undefined && outcome.status === 'fulfilled' && outcome.value === 'delivered')
        reachedUsers.add(userId);
    });
    const beyond = await notifyBeyondSubscribers(
      {
        ...deps,
        tables: { conversations, connections: deps.tables.connections },
        concurrency: deps.concurrency ?? DEFAULT_CONCURRENCY,
      },
      message,
      // An expired subscription is no reason to reach its connection another way.
      { subscribedConnections: new Set(subscribed.map((listener) => listener.connectionId)), reachedUsers },
    );
    Object.assign(report, beyond);
  }
  return report;
}

/** When what a record carries happened: its fan-out lag is measured from this. */
function eventTimeOf(record: QueueRecord): string {
  if (!('kind' in record)) return record.sentAt;
  if (record.kind === 'edit') return record.editedAt;
  if (record.kind === 'delete') return record.deletedAt;
  return record.at;
}

function recordLag(deps: FanoutDeps, record: QueueRecord): void {
  const eventTime = Date.parse(eventTimeOf(record));
  if (Number.isNaN(eventTime)) return;
  // The writer's clock may run a little ahead of this function's; a lag is never negative.
  deps.metrics.record('fanoutLag', Math.max(0, (deps.now ?? Date.now)() - eventTime));
}

/**
 * Processes one fan-out record: a poison body goes to the dead-letter queue and counts as processed;
 * anything else is delivered to every subscriber.
 * @throws when delivery failed, so the batch processor reports the record (and its group) for retry.
 */
export async function processRecord(deps: FanoutDeps, record: SQSRecord): Promise<void> {
  const budget = deps.recordBudgetMs ?? DEFAULT_RECORD_BUDGET_MS;
  const remaining = deps.remainingTimeMs?.();
  if (remaining !== undefined && remaining < budget) {
    throw new Error(`Only ${remaining} ms left of the invocation; the record is left for the next one`);
  }
  const parsed = parseQueueBody(record.body);
  if (!parsed.ok) {
    deps.logger.error('Poison record moved to the dead-letter queue', {
      messageId: record.messageId,
      messageGroupId: record.attributes.MessageGroupId,
      reason: parsed.reason,
    });
    await sendPoisonToDeadLetterQueue(deps, record, parsed.reason);
    return;
  }
  const { conversationId, seq } = parsed.record;
  const kind = 'kind' in parsed.record ? parsed.record.kind : 'message';
  deps.logger.appendKeys({ conversationId, seq });
  const postDeadline =
    remaining === undefined
      ? Number.POSITIVE_INFINITY
      : (deps.now ?? Date.now)() + remaining - POST_WORST_CASE_MS - RECORD_MARGIN_MS;
  try {
    const report = await deliverMessage(deps, parsed.record, postDeadline);
    recordLag(deps, parsed.record);
    // Metrics count what went well; a line per message at INFO would cost more in CloudWatch Logs than
    // its pushes (docs/cost.md "Cutting the 1:1 path"). Connections let go are worth a line.
    const quiet = report.gone + report.evicted + report.expired === 0;
    deps.logger[quiet ? 'debug' : 'info']('Message fanned out', { kind, ...report });
  } catch (err: unknown) {
    deps.logger.error('Fan-out failed; SQS will retry the record and the rest of its group', {
      messageId: record.messageId,
      error: err,
    });
    throw err;
  } finally {
    deps.logger.removeKeys(['conversationId', 'seq']);
  }
}

/**
 * Processes a FIFO batch: each message group (conversation) in order, the groups at the same time, so a
 * slow conversation holds up only its own records. A failed record fails every later record of its group
 * but not other groups; the failures go back to SQS as batchItemFailures (SQS redelivers only those).
 * FanoutFailures counts only the records whose own processing failed: the later records of a group,
 * only held back behind one, are redelivered but did not fail.
 */
export async function processFanoutBatch(deps: FanoutDeps, event: SQSEvent): Promise<SQSBatchResponse> {
  const groups = new Map<string, SQSRecord[]>();
  for (const record of event.Records) {
    const group = record.attributes.MessageGroupId ?? record.messageId;
    groups.set(group, [...(groups.get(group) ?? []), record]);
  }
  const failed = new Set<string>();
  let ownFailures = 0;
  await Promise.all(
    [...groups.values()].map(async (records) => {
      for (const [index, record] of records.entries()) {
        try {
          await processRecord(deps, record);
        } catch {
          ownFailures++;
          for (const rest of records.slice(index)) failed.add(rest.messageId);
          return;
        }
      }
    }),
  );
  // In the batch's order, as SQS lists them.
  const batchItemFailures = event.Records.filter((record) => failed.has(record.messageId)).map((record) => ({
    itemIdentifier: record.messageId,
  }));
  if (ownFailures > 0) deps.metrics.record('fanoutFailures', ownFailures);
  return { batchItemFailures };
}
