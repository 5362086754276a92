/**
 * Posting one record's push to a list of subscribed connections, with what each answer means: a 410
 * forgets the connection, an expired token ends it, a connection that keeps failing while others are
 * reached is evicted, and throttling or a dead API fails the record for a retry. The FIFO consumer uses
 * it inline for a small conversation (./fanout.ts), the shard worker for one shard of a big one
 * (./shard.ts).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mapWithConcurrency } from '../../shared/concurrency';
import { TokenExpiredError } from '../../shared/errors';
import type { MetricSink } from '../../shared/metrics';
import type { DisconnectFn, PostFn } from '../../shared/poster';
import { type SequencedFrame, toMessageFrame } from '../../shared/protocol';
import { messageOf, type QueueRecord } from '../../shared/queue-body';
import { errorFrame } from '../../shared/route-kit';
import { deleteConnection, type Listener } from '../../shared/store/connections';
import type { TableNames } from '../../shared/tables';
import { coalesce } from './coalesce';

/**
 * Posts in flight at once per run, as a shard job posts: a conversation below the shard threshold (200
 * subscriptions) is posted in at most 4 rounds, so a busy group's FIFO batch takes a few post latencies, not
 * 20 (at 10 in flight a 100-member group carried about 11 messages a second locally, against 30 offered:
 * `npm run bench -- sustained-group`). API Gateway's account rate (10,000 a second) is shared by every
 * invocation; 10 fan-outs at 50 in flight and 20–50 ms a post stay well under it.
 */
export const DEFAULT_CONCURRENCY = 50;

/**
 * The longest one post can take once started (DEFAULT_POSTER_OPTIONS: 4 attempts of 3 s plus their
 * backoff), and a margin for what follows the posts. A record starts no post later than this before the
 * invocation's end, so a conversation with more connections than fit in its time (or a slow, hostile
 * one) fails alone: its record is reported for retry while the others of the batch complete.
 */
export const POST_WORST_CASE_MS = 13_000;
export const RECORD_MARGIN_MS = 1_000;

/** What posting needs: the tables a 410 or an eviction cleans, the poster, and where it reports. */
export interface DeliveryDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'connections' | 'subscriptions'>;
  post: PostFn;
  /** Closes a connection that keeps failing while the API answers for others (G7). */
  disconnect: DisconnectFn;
  logger: Pick<Logger, 'info' | 'warn' | 'error' | 'debug' | 'appendKeys' | 'removeKeys'>;
  /** @default DEFAULT_CONCURRENCY */
  concurrency?: number;
  /** Where evicted connections are counted and each record's lag is timed. */
  metrics: MetricSink;
  /** Milliseconds since the epoch. @default Date.now */
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
  /** Shard jobs the record was split into (a sharded conversation): the posting happens in them. */
  shardJobs?: number;
  /** The room's tick, from its marker (absent when off): the FIFO consumer holds the group that long. */
  tickMs?: number;
}

/**
 * Logs a delivered run. Metrics count what went well, and a line per message at INFO would cost more in
 * CloudWatch Logs than its pushes (docs/cost.md "Cutting the 1:1 path"): DEBUG then. Connections let go
 * are worth an INFO line. Both the fan-out and its shard jobs log through here.
 */
export function logDelivery(
  logger: DeliveryDeps['logger'],
  message: string,
  report: DeliveryReport,
  fields: Record<string, unknown>,
): void {
  const quiet = report.gone + report.evicted + report.expired === 0;
  logger[quiet ? 'debug' : 'info'](message, { ...fields, ...report });
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
export function toPushFrame(record: QueueRecord): SequencedFrame {
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
 * Forgets a connection's items, including its subscription in the partition being fanned out even
 * when the connection item is already gone; a failure here is only logged, since TTL removes what it missed.
 */
async function forgetConnection(deps: DeliveryDeps, connectionId: string, partition: string): Promise<void> {
  try {
    await deleteConnection(deps.ddb, deps.tables, connectionId, [partition]);
  } catch (err: unknown) {
    deps.logger.warn('Could not delete a connection', { connectionId, error: err });
  }
}

/** Posts `posts` to one connection in order, stopping at the first that is not delivered. */
async function deliverToConnection(
  deps: DeliveryDeps,
  connectionId: string,
  partition: string,
  posts: readonly string[],
): Promise<ConnectionOutcome> {
  let result: Awaited<ReturnType<PostFn>> | undefined;
  for (const data of posts) {
    result = await deps.post(connectionId, data);
    if (result.status !== 'delivered') break;
  }
  if (result === undefined || result.status === 'delivered') return 'delivered';
  if (result.status === 'gone') {
    await forgetConnection(deps, connectionId, partition);
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
async function evictConnection(deps: DeliveryDeps, connectionId: string, partition: string): Promise<void> {
  try {
    await deps.disconnect(connectionId);
  } catch (err: unknown) {
    deps.logger.warn('Could not close a failing connection', { connectionId, error: err });
  }
  await forgetConnection(deps, connectionId, partition);
}

/** What a connection whose token expired gets instead of the message, before it is closed. */
const TOKEN_EXPIRED_FRAME = JSON.stringify(errorFrame(new TokenExpiredError(), undefined));

/**
 * Ends the connections whose tokens expired: each is told why (one post, in place of the message's),
 * closed and forgotten, as for a 410. Its client reconnects with a fresh token and resumes with afterSeq.
 */
async function endExpired(deps: DeliveryDeps, expired: Listener[], partition: string): Promise<void> {
  await mapWithConcurrency(expired, deps.concurrency ?? DEFAULT_CONCURRENCY, async ({ connectionId }) => {
    await deps.post(connectionId, TOKEN_EXPIRED_FRAME);
    await evictConnection(deps, connectionId, partition);
  });
}

/** Who a delivery reached: the report, and the users at least one of whose connections got the push. */
export interface Delivery {
  report: DeliveryReport;
  reachedUsers: Set<string>;
}

/**
 * What one connection is posted for a run of records of one conversation, in order: the pushes it is due
 * (a message is not pushed to its sending connection, `senderConnectionId`: it has its ack), coalesced
 * into as few posts as the billing unit allows (./coalesce.ts). One record makes one post, its push as
 * it always was. Connections due the same pushes share one coalescing.
 */
function postsFor(records: readonly QueueRecord[]): (connectionId: string) => string[] {
  const frames = records.map(toPushFrame);
  const senders = records.map((record) => ('kind' in record ? undefined : record.senderConnectionId));
  const byExclusions = new Map<string, string[]>();
  return (connectionId) => {
    const due = frames.filter((_, index) => senders[index] !== connectionId);
    const key = senders.map((sender) => (sender === connectionId ? '1' : '0')).join('');
    const cached = byExclusions.get(key);
    if (cached !== undefined) return cached;
    const posts = coalesce(due);
    byExclusions.set(key, posts);
    return posts;
  };
}

/**
 * Pushes a run of records of one conversation (in seq order; usually one) to `subscribed` (the
 * listeners read from `partition`), `concurrency` connections at a time, each getting its pushes
 * coalesced (see postsFor): a connection due none (a sender alone in the run) is not posted. Every connection is
 * attempted before the outcome is decided, so a dead or slow one never keeps the message from others.
 * A 410 deletes that connection and its subscriptions; so does a token that expired, after telling the
 * connection `token_expired` in place of the message. A connection that still fails after its retries
 * while others were reached is evicted (closed and forgotten), so one bad socket never blocks the
 * conversation. Throttling, or every connection failing, means API Gateway itself is in trouble: then
 * the record (or shard job) fails and SQS retries it, and after maxReceiveCount it moves to its DLQ (G6).
 * No post starts at or after `postDeadline` (epoch ms): connections left unattempted fail it too.
 * @throws FanoutDeliveryError when the record must be retried.
 */
export async function postToListeners(
  deps: DeliveryDeps,
  run: readonly [QueueRecord, ...QueueRecord[]],
  subscribed: Listener[],
  partition: string,
  postDeadline = Number.POSITIVE_INFINITY,
): Promise<Delivery> {
  const [first] = run;
  const now = deps.now ?? Date.now;
  // The token's exp came with the subscription: telling a live connection from an expired one costs nothing.
  const nowSeconds = now() / 1000;
  const expired = subscribed.filter(
    ({ tokenExpiresAt }) => tokenExpiresAt !== undefined && nowSeconds >= tokenExpiresAt,
  );
  // The connection that sent a message has it from its ack; an edit, delete or membership change is
  // pushed to it too, since its ack carries only the version and the SDK applies every change from pushes.
  const postsOf = postsFor(run);
  const due = subscribed
    .filter((listener) => !expired.includes(listener))
    .map((listener) => ({ listener, posts: postsOf(listener.connectionId) }))
    .filter(({ posts }) => posts.length > 0);
  const listeners = due.map(({ listener }) => listener);
  const connectionIds = listeners.map((listener) => listener.connectionId);
  const [settled] = await Promise.all([
    mapWithConcurrency(due, deps.concurrency ?? DEFAULT_CONCURRENCY, async ({ listener, posts }) =>
      now() >= postDeadline
        ? 'unattempted'
        : deliverToConnection(deps, listener.connectionId, partition, posts),
    ),
    endExpired(deps, expired, partition),
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
  const reachedUsers = new Set<string>();
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
    else {
      report[outcome.value]++;
      const userId = listeners[index]?.userId;
      if (outcome.value === 'delivered' && userId !== undefined) reachedUsers.add(userId);
    }
  });
  const apiAnswered = report.delivered + report.gone > 0;
  if (throttled === 0 && apiAnswered) {
    for (const connectionId of failing) await evictConnection(deps, connectionId, partition);
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
  if (report.failed > 0) throw new FanoutDeliveryError(first, report);
  return { report, reachedUsers };
}

/** When what a record carries happened: its fan-out lag is measured from this. */
function eventTimeOf(record: QueueRecord): string {
  if (!('kind' in record)) return record.sentAt;
  if (record.kind === 'edit') return record.editedAt;
  if (record.kind === 'delete') return record.deletedAt;
  return record.at;
}

/** Records `fanoutLag`: from when the record's event happened to now, when its pushes are posted. */
export function recordLag(deps: Pick<DeliveryDeps, 'metrics' | 'now'>, record: QueueRecord): void {
  const eventTime = Date.parse(eventTimeOf(record));
  if (Number.isNaN(eventTime)) return;
  // The writer's clock may run a little ahead of this function's; a lag is never negative.
  deps.metrics.record('fanoutLag', Math.max(0, (deps.now ?? Date.now)() - eventTime));
}
