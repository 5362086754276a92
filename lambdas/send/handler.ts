/** Lambda entry of the `send`, `edit` and `delete` WebSocket routes. Its routes are in ./routes.ts. */
import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient } from '../../shared/aws/dynamodb';
import { createS3Client } from '../../shared/aws/s3';
import { createSqsClient } from '../../shared/aws/sqs';
import { tableNamesFromEnv } from '../../shared/aws/table-names';
import { ENV, requireEnv } from '../../shared/env';
import { createMetrics, metricSinkOf, withMetrics } from '../../shared/metrics';
import { managementApiDisconnector, userBudgetOf } from '../../shared/route-kit';
import { createSendHandler } from './routes';

const SERVICE_NAME = 'chat-send';
const logger = new Logger({ serviceName: SERVICE_NAME });
const metrics = createMetrics(SERVICE_NAME);
const ddb = createDocumentClient();

export const handler = withMetrics(
  metrics,
  createSendHandler({
    ddb,
    sqs: createSqsClient(),
    tables: tableNamesFromEnv(['conversations', 'messages', 'idempotency']),
    userBudget: userBudgetOf(ddb, tableNamesFromEnv(['connections'])),
    fanoutQueueUrl: requireEnv(ENV.fanoutQueueUrl),
    attachments: { s3: createS3Client(), bucket: requireEnv(ENV.attachmentsBucket) },
    now: () => new Date(),
    logger,
    metrics: metricSinkOf(metrics),
    disconnect: managementApiDisconnector(requireEnv(ENV.managementEndpoint)),
  }),
);
