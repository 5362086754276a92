/**
 * The fan-out queue's producer side: every stored entry (a message, an edit, a delete, a membership
 * change) reaches subscribers through this one SendMessage.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { encodeQueueBody, type QueueRecord } from '../queue-body';

/**
 * The dedup id of a record: one per seq for a message or a membership change, one per version for an edit
 * or a delete (a later version of the same message must get through; a resend of the same one must not).
 */
export function deduplicationIdOf(record: QueueRecord): string {
  const slot = `${record.conversationId}:${record.seq}`;
  return 'kind' in record && (record.kind === 'edit' || record.kind === 'delete')
    ? `${slot}:v${record.version}`
    : slot;
}

/**
 * Puts a stored entry on the FIFO fan-out queue. The group keeps one conversation's records in enqueue
 * order, which is not always seq order: two senders may enqueue seq 6 before seq 5, so clients order by
 * seq. The body is ASCII-only JSON, so no character a chat body may hold makes SQS refuse it after the
 * entry was stored. The dedup id makes a re-enqueue within SQS's 5-minute window a no-op: a retry whose
 * first enqueue did get in (only the ack was lost) is not fanned out twice, while one whose first enqueue
 * failed gets in now.
 */
export async function enqueue(
  sqs: Pick<SQSClient, 'send'>,
  queueUrl: string,
  record: QueueRecord,
  signal?: AbortSignal,
): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageGroupId: record.conversationId,
      MessageDeduplicationId: deduplicationIdOf(record),
      MessageBody: encodeQueueBody(record),
    }),
    { abortSignal: signal },
  );
}
