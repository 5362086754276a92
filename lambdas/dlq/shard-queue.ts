/**
 * Finds the shard dead-letter queue from the shard queue's redrive policy, so the redrive function
 * needs no variable of its own for it: the queue SQS moves failed shard jobs to is, by definition, the
 * one to redrive them from.
 */
import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** An SQS queue ARN: `arn:<partition>:sqs:<region>:<account>:<name>`. */
const QUEUE_ARN = /^arn:[^:]+:sqs:[^:]*:([^:]*):([^:]+)$/;

/**
 * The URL of the dead-letter queue named by `queueUrl`'s redrive policy (two calls: GetQueueAttributes,
 * GetQueueUrl).
 * @throws Error when the queue has no redrive policy or its target is not a queue ARN.
 */
export async function deadLetterQueueUrlOf(sqs: Pick<SQSClient, 'send'>, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }),
  );
  const policy = Attributes?.RedrivePolicy;
  if (policy === undefined)
    throw new Error(`Queue ${queueUrl} has no redrive policy: it has no dead-letter queue`);
  const target = (JSON.parse(policy) as { deadLetterTargetArn?: unknown }).deadLetterTargetArn;
  const match = typeof target === 'string' ? QUEUE_ARN.exec(target) : null;
  if (match?.[2] === undefined)
    throw new Error(`Queue ${queueUrl} names no dead-letter queue ARN: ${policy}`);
  const { QueueUrl } = await sqs.send(
    new GetQueueUrlCommand({ QueueName: match[2], QueueOwnerAWSAccountId: match[1] || undefined }),
  );
  if (QueueUrl === undefined) throw new Error(`SQS returned no URL for dead-letter queue ${match[2]}`);
  return QueueUrl;
}
