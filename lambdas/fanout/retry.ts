/**
 * How a failed fan-out record comes back: in seconds, not after the queue's visibility timeout. The
 * records a batch reports as failed get their visibility shortened in one ChangeMessageVisibilityBatch,
 * by how often they were received (1, 2, 4, then 8 s), so a conversation whose dependency returns is
 * delivering again within seconds, while one that keeps failing is not retried in a tight loop. A batch
 * with no failure sends nothing more.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { ChangeMessageVisibilityBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';

/** The first retry's delay; each receive doubles it, up to RETRY_MAX_DELAY_SECONDS. */
export const RETRY_BASE_DELAY_SECONDS = 1;

/**
 * The longest a failed record stays hidden: a conversation is delivering again at most this long (plus
 * one attempt) after its dependency returns. maxReceiveCount is sized against it (lib/wiring.ts).
 */
export const RETRY_MAX_DELAY_SECONDS = 8;

/** How long the visibility change may take: it runs in the invocation's last STOP_MARGIN_MS (./groups.ts). */
export const VISIBILITY_CALL_TIMEOUT_MS = 1_000;

/** The visibility a record received `receiveCount` times gets when it fails: 1, 2, 4, 8, 8… seconds. */
export function retryDelaySeconds(receiveCount: number): number {
  const receives = Number.isInteger(receiveCount) && receiveCount > 0 ? receiveCount : 1;
  return Math.min(RETRY_MAX_DELAY_SECONDS, RETRY_BASE_DELAY_SECONDS * 2 ** (receives - 1));
}

export interface RetryDeps {
  sqs: Pick<SQSClient, 'send'>;
  /** The queue the batch came from. */
  queueUrl: string;
  logger: Pick<Logger, 'warn'>;
}

/**
 * Shortens the visibility of the records `response` reports as failed (one call; a FIFO batch holds at
 * most 10 records). Best effort: a record whose change fails comes back after the queue's visibility
 * timeout, as it would without this, so a failure here is logged and never fails the batch.
 */
export async function retryFailedSoon(
  deps: RetryDeps,
  event: SQSEvent,
  response: SQSBatchResponse,
): Promise<void> {
  const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  const entries = event.Records.filter((record) => failed.has(record.messageId)).map((record, index) => ({
    Id: String(index),
    ReceiptHandle: record.receiptHandle,
    VisibilityTimeout: retryDelaySeconds(Number(record.attributes.ApproximateReceiveCount)),
  }));
  if (entries.length === 0) return;
  try {
    const { Failed = [] } = await deps.sqs.send(
      new ChangeMessageVisibilityBatchCommand({ QueueUrl: deps.queueUrl, Entries: entries }),
      { abortSignal: AbortSignal.timeout(VISIBILITY_CALL_TIMEOUT_MS) },
    );
    if (Failed.length > 0) {
      deps.logger.warn('Some failed records keep the full visibility timeout', { failed: Failed });
    }
  } catch (err: unknown) {
    deps.logger.warn('Failed records keep the full visibility timeout', { error: err });
  }
}
