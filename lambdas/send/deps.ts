/**
 * What the operations of the send function are given (clients, table names, clock, logger, metrics),
 * the timings they share, and the step each begins with.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { MetricSink } from '../../shared/metrics';
import type { Caller } from '../../shared/route-kit';
import type { AttachmentBucket } from '../../shared/store/attachments';
import { BucketHints, takeSendToken } from '../../shared/store/conversations';
import type { TableNames } from '../../shared/tables';

export type SendTables = Pick<TableNames, 'conversations' | 'messages' | 'idempotency'>;

export interface SendDeps {
  ddb: DynamoDBDocumentClient;
  sqs: SQSClient;
  tables: SendTables;
  fanoutQueueUrl: string;
  now: () => Date;
  logger: Pick<Logger, 'appendKeys' | 'info' | 'warn'>;
  /** Where the tombstones a send fills in its own reserved seqs are counted. */
  metrics: MetricSink;
  /** Makes the token that tells this attempt's claim from another's. @default crypto.randomUUID */
  newClaimToken?: () => string;
  /**
   * The attachments bucket: a send that carries an attachment checks it there (one HeadObject), and
   * a delete removes the deleted message's object. Without it, messages with attachments are refused.
   */
  attachments?: AttachmentBucket;
  /** What this execution environment knows of send buckets; createSendHandler keeps one. */
  bucketHints?: BucketHints;
}

/** Time a send must have left before it reserves a seq, so it can store what it reserved. */
export const MIN_SEND_BUDGET_MS = 3_000;

/** The least a client waits before asking again about a message still in flight. */
export const IN_FLIGHT_RETRY_MIN_MS = 250;

/** The member check and one token of the caller's send bucket in this conversation. */
export const takeToken = (
  deps: Pick<SendDeps, 'ddb' | 'tables' | 'now' | 'bucketHints'>,
  conversationId: string,
  caller: Caller,
): Promise<void> =>
  takeSendToken(
    deps,
    deps.bucketHints ?? new BucketHints(),
    conversationId,
    caller.userId,
    () => deps.now().getTime(),
    caller.signal,
  );
