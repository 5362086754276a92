/** Lambda entry of the `send`, `edit` and `delete` WebSocket routes. Its routes are in ./routes.ts. */
import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient, createS3Client, createSqsClient, tableNamesFromEnv } from '../../shared/aws';
import { ENV, requireEnv } from '../../shared/env';
import { createMetrics, metricSinkOf, withMetrics } from '../../shared/metrics';
import { managementApiDisconnector } from '../../shared/route-kit';
import { createSendHandler } from './routes';

const SERVICE_NAME = 'chat-send';
const logger = new Logger({ serviceName: SERVICE_NAME });
const metrics = createMetrics(SERVICE_NAME);

export const handler = withMetrics(
  metrics,
  createSendHandler({
    ddb: createDocumentClient(),
    sqs: createSqsClient(),
    tables: tableNamesFromEnv(['conversations', 'messages', 'idempotency']),
    fanoutQueueUrl: requireEnv(ENV.fanoutQueueUrl),
    attachments: { s3: createS3Client(), bucket: requireEnv(ENV.attachmentsBucket) },
    now: () => new Date(),
    logger,
    metrics: metricSinkOf(metrics),
    disconnect: managementApiDisconnector(requireEnv(ENV.managementEndpoint)),
  }),
);
