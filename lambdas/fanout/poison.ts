/** Fan-out records that can never be processed: straight to the dead-letter queue, marked as poison. */
import { type MessageAttributeValue, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { POISON_ATTRIBUTE, REDRIVE_COUNT_ATTRIBUTE } from '../../shared/queue-attributes';

const MAX_POISON_REASON_LENGTH = 256;

/**
 * Moves a record that can never be processed straight to the dead-letter queue, in the same message
 * group, marked with the `poison` attribute so the redrive does not loop it back by default.
 */
export async function sendPoisonToDeadLetterQueue(
  deps: { sqs: Pick<SQSClient, 'send'>; deadLetterQueueUrl: string },
  record: SQSRecord,
  reason: string,
): Promise<void> {
  const attributes: Record<string, MessageAttributeValue> = {
    [POISON_ATTRIBUTE]: { DataType: 'String', StringValue: reason.slice(0, MAX_POISON_REASON_LENGTH) },
  };
  const redriveCount = record.messageAttributes?.[REDRIVE_COUNT_ATTRIBUTE]?.stringValue;
  if (redriveCount !== undefined) {
    attributes[REDRIVE_COUNT_ATTRIBUTE] = { DataType: 'Number', StringValue: redriveCount };
  }
  await deps.sqs.send(
    new SendMessageCommand({
      QueueUrl: deps.deadLetterQueueUrl,
      MessageBody: record.body,
      // A FIFO record always has a group; the fallback only keeps a malformed event from crashing.
      MessageGroupId: record.attributes.MessageGroupId ?? 'poison',
      MessageDeduplicationId: record.attributes.MessageDeduplicationId ?? record.messageId,
      MessageAttributes: attributes,
    }),
  );
}
