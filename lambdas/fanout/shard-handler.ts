/**
 * Shard worker: the event source is the FIFO shard queue (batch ≤ 10, ReportBatchItemFailures).
 * It reports under the fan-out's service name, so the fan-out's failure alarm and dashboard count its
 * failed jobs too.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@aws-lambda-powertools/logger';
import type { SQSHandler } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/dynamodb';
import { createSqsClient } from '../../shared/aws/sqs';
import { tableNamesFromEnv } from '../../shared/aws/table-names';
import { ENV, requireEnv } from '../../shared/env';
import { createMetrics, FANOUT_SERVICE_NAME, metricSinkOf, withMetrics } from '../../shared/metrics';
import { createDisconnector, createManagementClient, createPoster } from '../../shared/poster';
import { REQUEST_TIMEOUT_MS } from './groups';
import { processShardBatch, SHARD_CONCURRENCY, type ShardDeps } from './shard';

const logger = new Logger({ serviceName: FANOUT_SERVICE_NAME });
const metrics = createMetrics(FANOUT_SERVICE_NAME);

const management = createManagementClient(requireEnv(ENV.managementEndpoint));

const deps: ShardDeps = {
  ddb: createDocumentClient(REQUEST_TIMEOUT_MS),
  sqs: createSqsClient(REQUEST_TIMEOUT_MS),
  shardQueueUrl: requireEnv(ENV.shardQueueUrl),
  tables: tableNamesFromEnv(['connections', 'subscriptions']),
  post: createPoster({ client: management, sleep: (ms) => sleep(ms), random: Math.random }),
  disconnect: createDisconnector(management),
  logger,
  metrics: metricSinkOf(metrics),
  concurrency: SHARD_CONCURRENCY,
};

export const handler: SQSHandler = withMetrics(metrics, async (event, context) => {
  logger.addContext(context);
  return processShardBatch({ ...deps, remainingTimeMs: () => context.getRemainingTimeInMillis() }, event);
});
