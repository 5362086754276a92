/** The redrive function finds the shard DLQ from the shard queue's redrive policy. */
import { GetQueueAttributesCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { deadLetterQueueUrlOf } from '../../lambdas/dlq/shard-queue';

const SHARD_QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/chat-shards.fifo';

function fakeSqs(redrivePolicy: string | undefined) {
  const sent: unknown[] = [];
  return {
    sent,
    send: async (command: unknown) => {
      sent.push(command);
      if (command instanceof GetQueueAttributesCommand) {
        return { Attributes: redrivePolicy === undefined ? {} : { RedrivePolicy: redrivePolicy } };
      }
      if (command instanceof GetQueueUrlCommand) {
        const { QueueName, QueueOwnerAWSAccountId } = command.input;
        return { QueueUrl: `https://sqs.eu-west-1.amazonaws.com/${QueueOwnerAWSAccountId}/${QueueName}` };
      }
      throw new Error('unexpected command');
    },
  };
}

describe('deadLetterQueueUrlOf', () => {
  it("returns the URL of the queue the shard queue's redrive policy targets, in two calls", async () => {
    const sqs = fakeSqs(
      JSON.stringify({
        deadLetterTargetArn: 'arn:aws:sqs:eu-west-1:123456789012:chat-shard-dlq.fifo',
        maxReceiveCount: 5,
      }),
    );

    const url = await deadLetterQueueUrlOf(sqs as never, SHARD_QUEUE);

    expect(url).toBe('https://sqs.eu-west-1.amazonaws.com/123456789012/chat-shard-dlq.fifo');
    expect(sqs.sent.map((command) => (command as { input: unknown }).input)).toEqual([
      { QueueUrl: SHARD_QUEUE, AttributeNames: ['RedrivePolicy'] },
      { QueueName: 'chat-shard-dlq.fifo', QueueOwnerAWSAccountId: '123456789012' },
    ]);
  });

  it('refuses a queue without a redrive policy, so nothing is received from a wrong queue', async () => {
    await expect(deadLetterQueueUrlOf(fakeSqs(undefined) as never, SHARD_QUEUE)).rejects.toThrow(
      'has no redrive policy',
    );
  });

  it('refuses a redrive policy whose target is not a queue ARN', async () => {
    const sqs = fakeSqs(JSON.stringify({ deadLetterTargetArn: 'not-an-arn' }));

    await expect(deadLetterQueueUrlOf(sqs as never, SHARD_QUEUE)).rejects.toThrow(
      'names no dead-letter queue ARN',
    );
  });
});
