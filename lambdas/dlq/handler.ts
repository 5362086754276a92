/**
 * Redrive of a dead-letter queue, invoked on demand with
 * `{ queue?: 'fanout' | 'shards', maxMessages?: number, dryRun?: boolean, includePoison?: boolean }`:
 * the fan-out DLQ by default, the shard DLQ with `queue: 'shards'`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { createSqsClient } from '../../shared/aws/sqs';
import { ENV, requireEnv } from '../../shared/env';
import { createMetrics, metricSinkOf, withMetrics } from '../../shared/metrics';
import { parseRedriveInput, type RedriveDeps, type RedriveSummary, redrive } from './redrive';
import { deadLetterQueueUrlOf } from './shard-queue';

const logger = new Logger({ serviceName: 'chat-dlq' });
const metrics = createMetrics('chat-dlq');

const deps: RedriveDeps = {
  sqs: createSqsClient(),
  deadLetterQueueUrl: requireEnv(ENV.deadLetterQueueUrl),
  fanoutQueueUrl: requireEnv(ENV.fanoutQueueUrl),
  logger,
  metrics: metricSinkOf(metrics),
};

export const handler = withMetrics(
  metrics,
  async (event: unknown, context: Context): Promise<RedriveSummary> => {
    logger.addContext(context);
    const input = parseRedriveInput(event);
    if (input.queue !== 'shards') return redrive(deps, input);
    const shardQueueUrl = requireEnv(ENV.shardQueueUrl);
    const deadLetterQueueUrl = await deadLetterQueueUrlOf(deps.sqs, shardQueueUrl);
    return redrive({ ...deps, deadLetterQueueUrl, fanoutQueueUrl: shardQueueUrl }, input);
  },
);
