/**
 * Redrive of the fan-out dead-letter queue, invoked on demand with
 * `{ maxMessages?: number, dryRun?: boolean, includePoison?: boolean }`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { createSqsClient } from '../../shared/aws';
import { ENV, requireEnv } from '../../shared/env';
import { createMetrics, metricSinkOf, withMetrics } from '../../shared/metrics';
import { parseRedriveInput, type RedriveDeps, type RedriveSummary, redrive } from './redrive';

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
    return redrive(deps, parseRedriveInput(event));
  },
);
