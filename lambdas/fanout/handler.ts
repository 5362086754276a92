/** Fan-out worker: the event source is the SQS FIFO fan-out queue (batch ≤ 10, ReportBatchItemFailures). */
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@aws-lambda-powertools/logger';
import type { SQSHandler } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/dynamodb';
import { createEventBridgeClient } from '../../shared/aws/eventbridge';
import { createSqsClient } from '../../shared/aws/sqs';
import { tableNamesFromEnv } from '../../shared/aws/table-names';
import { ENV, optionalEnv, requireEnv } from '../../shared/env';
import { createMetrics, FANOUT_SERVICE_NAME, metricSinkOf, withMetrics } from '../../shared/metrics';
import { createDisconnector, createManagementClient, createPoster } from '../../shared/poster';
import { type FanoutDeps, processFanoutBatch } from './fanout';
import { REQUEST_TIMEOUT_MS } from './groups';

const logger = new Logger({ serviceName: FANOUT_SERVICE_NAME });
const metrics = createMetrics(FANOUT_SERVICE_NAME);

const management = createManagementClient(requireEnv(ENV.managementEndpoint));

const eventBusName = optionalEnv(ENV.offlineEventBus);

const deps: FanoutDeps = {
  ddb: createDocumentClient(REQUEST_TIMEOUT_MS),
  sqs: createSqsClient(REQUEST_TIMEOUT_MS),
  tables: tableNamesFromEnv(['connections', 'subscriptions', 'conversations']),
  ...(eventBusName === undefined
    ? {}
    : { eventBridge: createEventBridgeClient(REQUEST_TIMEOUT_MS), eventBusName }),
  deadLetterQueueUrl: requireEnv(ENV.deadLetterQueueUrl),
  fanoutQueueUrl: requireEnv(ENV.fanoutQueueUrl),
  shardQueueUrl: requireEnv(ENV.shardQueueUrl),
  post: createPoster({ client: management, sleep: (ms) => sleep(ms), random: Math.random }),
  disconnect: createDisconnector(management),
  logger,
  metrics: metricSinkOf(metrics),
};

export const handler: SQSHandler = withMetrics(metrics, async (event, context) => {
  logger.addContext(context);
  return processFanoutBatch({ ...deps, remainingTimeMs: () => context.getRemainingTimeInMillis() }, event);
});
