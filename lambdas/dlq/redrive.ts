/**
 * Dead-letter redrive: moves letters from the FIFO dead-letter queue back to the fan-out queue in the
 * same message group, so a fan-out that kept failing is delivered once its cause is fixed. Sending
 * happens before deleting and the deduplication id is derived from the letter, so a run that crashes
 * between the two can simply be run again.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { MetricSink } from '../../shared/metrics';
import * as z from '../../shared/protocol/zod';
import { POISON_ATTRIBUTE, REDRIVE_COUNT_ATTRIBUTE } from '../../shared/queue-attributes';

/**
 * The dead-letter queues the function redrives: `fanout` (the fan-out DLQ, back to the fan-out queue)
 * and `shards` (the shard DLQ, back to the shard queue).
 */
export const REDRIVE_QUEUES = ['fanout', 'shards'] as const;
export type RedriveQueue = (typeof REDRIVE_QUEUES)[number];

export const redriveInputSchema = z.strictObject({
  /** @default 'fanout', the function's behaviour before the shard queue existed. */
  queue: z.optional(z.enum(REDRIVE_QUEUES)),
  maxMessages: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(10_000)), 100),
  dryRun: z._default(z.boolean(), false),
  includePoison: z._default(z.boolean(), false),
});
export type RedriveInput = z.infer<typeof redriveInputSchema>;

export interface RedriveSummary {
  /** Letters sent back to the fan-out queue and deleted from the dead-letter queue. */
  moved: number;
  /** Poison letters left in the dead-letter queue. */
  skipped: number;
  dryRun: boolean;
  /** In a dry run, the letters a real run would have moved; 0 otherwise. */
  wouldMove: number;
}

export interface RedriveDeps {
  sqs: Pick<SQSClient, 'send'>;
  deadLetterQueueUrl: string;
  /** Where letters go back to: the fan-out queue, or the shard queue when redriving the shard DLQ. */
  fanoutQueueUrl: string;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Counts each letter put back on the fan-out queue. */
  metrics: MetricSink;
}

export class InvalidRedriveInputError extends Error {
  override readonly name = 'InvalidRedriveInputError';
  constructor(issues: string[]) {
    super(`Invalid redrive input: ${issues.join('; ')}. Nothing was moved.`);
  }
}

/** SQS caps ReceiveMessage at 10 letters per call. */
const RECEIVE_BATCH = 10;
/** SQS caps MessageDeduplicationId at 128 characters. */
const MAX_DEDUP_ID_LENGTH = 128;
/** Letters held back (dry run, poison) stay invisible for the rest of the run, so each is seen once. */
const HOLD_SECONDS = 300;

/**
 * Validates the invocation payload; an empty payload means all defaults.
 * @throws InvalidRedriveInputError listing every problem.
 */
export function parseRedriveInput(event: unknown): RedriveInput {
  const result = redriveInputSchema.safeParse(event ?? {});
  if (result.success) return result.data;
  throw new InvalidRedriveInputError(
    result.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`),
  );
}

/**
 * The deduplication id of the n-th redrive of a letter. It is the same on every attempt of the same
 * redrive (a rerun after a crash between send and delete is dropped by SQS) and new for the next one
 * (a letter that failed again is not mistaken for a duplicate). Long ids are hashed to fit 128 chars.
 */
export function redriveDeduplicationId(originalId: string, redriveCount: number): string {
  const suffix = `:r${redriveCount}`;
  if (originalId.length + suffix.length <= MAX_DEDUP_ID_LENGTH) return `${originalId}${suffix}`;
  return `${createHash('sha256').update(originalId).digest('hex')}${suffix}`;
}

function previousRedriveCount(letter: Message): number {
  const count = Number(letter.MessageAttributes?.[REDRIVE_COUNT_ATTRIBUTE]?.StringValue ?? 0);
  return Number.isInteger(count) && count >= 0 ? count : 0;
}

function isPoison(letter: Message): boolean {
  return letter.MessageAttributes?.[POISON_ATTRIBUTE] !== undefined;
}

interface Letter {
  messageId: string;
  receiptHandle: string;
  body: string;
  groupId: string;
  dedupId: string;
  attributes: Record<string, MessageAttributeValue>;
  poison: boolean;
  redriveCount: number;
}

function toLetter(message: Message): Letter {
  const { MessageId, ReceiptHandle, Body, Attributes } = message;
  const groupId = Attributes?.MessageGroupId;
  if (MessageId === undefined || ReceiptHandle === undefined || Body === undefined || groupId === undefined) {
    throw new Error(`Dead letter ${MessageId ?? '(no id)'} lacks a body, receipt handle or message group`);
  }
  return {
    messageId: MessageId,
    receiptHandle: ReceiptHandle,
    body: Body,
    groupId,
    dedupId: Attributes?.MessageDeduplicationId ?? MessageId,
    attributes: message.MessageAttributes ?? {},
    poison: isPoison(message),
    redriveCount: previousRedriveCount(message) + 1,
  };
}

async function moveLetter(deps: RedriveDeps, letter: Letter): Promise<void> {
  const dedupId = redriveDeduplicationId(letter.dedupId, letter.redriveCount);
  await deps.sqs.send(
    new SendMessageCommand({
      QueueUrl: deps.fanoutQueueUrl,
      MessageBody: letter.body,
      MessageGroupId: letter.groupId,
      MessageDeduplicationId: dedupId,
      MessageAttributes: {
        ...letter.attributes,
        [REDRIVE_COUNT_ATTRIBUTE]: { DataType: 'Number', StringValue: String(letter.redriveCount) },
      },
    }),
  );
  // Only after the send succeeded: deleting first could lose the letter if the send then failed.
  await deps.sqs.send(
    new DeleteMessageCommand({ QueueUrl: deps.deadLetterQueueUrl, ReceiptHandle: letter.receiptHandle }),
  );
  deps.logger.info('Redrove letter', {
    messageGroupId: letter.groupId,
    deduplicationId: dedupId,
    messageId: letter.messageId,
    redriveCount: letter.redriveCount,
  });
}

async function release(deps: RedriveDeps, receiptHandles: readonly string[]): Promise<void> {
  for (const receiptHandle of receiptHandles) {
    await deps.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: deps.deadLetterQueueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: 0,
      }),
    );
  }
}

/**
 * Moves up to `maxMessages` dead letters back to the fan-out queue, in received order. Poison letters
 * are left in place unless `includePoison`; a dry run only logs. Letters left in place are made visible
 * again at the end of the run. A failed send stops the run and deletes nothing it did not move.
 *
 * FIFO caveat: while a held letter is invisible, SQS returns no later letter of its group, so letters
 * queued behind a skipped poison letter move only if they arrived in the same receive batch.
 */
export async function redrive(deps: RedriveDeps, input: RedriveInput): Promise<RedriveSummary> {
  const summary: RedriveSummary = { moved: 0, skipped: 0, dryRun: input.dryRun, wouldMove: 0 };
  const held: string[] = [];
  let received = 0;
  try {
    while (received < input.maxMessages) {
      const { Messages = [] } = await deps.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: deps.deadLetterQueueUrl,
          MaxNumberOfMessages: Math.min(RECEIVE_BATCH, input.maxMessages - received),
          MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'],
          MessageAttributeNames: ['All'],
          VisibilityTimeout: HOLD_SECONDS,
          WaitTimeSeconds: 0,
        }),
      );
      if (Messages.length === 0) break;
      received += Messages.length;
      for (const [index, message] of Messages.entries()) {
        const letter = toLetter(message);
        if (letter.poison && !input.includePoison) {
          deps.logger.info('Skipped poison letter', {
            messageGroupId: letter.groupId,
            messageId: letter.messageId,
          });
          held.push(letter.receiptHandle);
          summary.skipped++;
        } else if (input.dryRun) {
          deps.logger.info('Would redrive letter', {
            messageGroupId: letter.groupId,
            deduplicationId: redriveDeduplicationId(letter.dedupId, letter.redriveCount),
            messageId: letter.messageId,
          });
          held.push(letter.receiptHandle);
          summary.wouldMove++;
        } else {
          try {
            await moveLetter(deps, letter);
          } catch (err: unknown) {
            // This letter and the rest of the batch go back, so a rerun resumes in group order.
            held.push(...Messages.slice(index).flatMap((m) => (m.ReceiptHandle ? [m.ReceiptHandle] : [])));
            deps.logger.error('Redrive stopped: a letter could not be moved', {
              messageGroupId: letter.groupId,
              messageId: letter.messageId,
              moved: summary.moved,
              error: err,
            });
            throw err;
          }
          summary.moved++;
          deps.metrics.record('redriven');
        }
      }
    }
  } finally {
    await release(deps, held);
  }
  deps.logger.info('Redrive finished', { ...summary });
  return summary;
}
