/**
 * The fan-out queue's producer side: every stored entry (a message, an edit, a delete, a membership
 * change) reaches subscribers through this one SendMessage.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { ChatMessage } from '../protocol';
import { encodeQueueBody } from '../queue-body';

/**
 * Puts a stored message on the FIFO fan-out queue. The group keeps one conversation's messages in
 * enqueue order, which is not always seq order: two senders may enqueue seq 6 before seq 5, so clients
 * order by seq. The body is ASCII-only JSON, so no character a chat body may hold makes SQS refuse it
 * after the message was stored. The dedup id makes a re-enqueue within SQS's 5-minute window a no-op: a
 * retry whose first enqueue did get in (only the ack was lost) is not fanned out twice, while one whose
 * first enqueue failed gets in now.
 */
export async function enqueueMessage(
  sqs: SQSClient,
  queueUrl: string,
  message: ChatMessage,
  signal?: AbortSignal,
): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageGroupId: message.conversationId,
      MessageDeduplicationId: `${message.conversationId}:${message.seq}`,
      MessageBody: encodeQueueBody(message),
    }),
    { abortSignal: signal },
  );
}
