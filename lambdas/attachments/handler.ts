/** Lambda entry of the `uploadUrl`, `confirmUpload` and `downloadUrl` routes. The logic lives in ./attachments.ts. */
import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient } from '../../shared/aws/dynamodb';
import { createS3Client } from '../../shared/aws/s3';
import { tableNamesFromEnv } from '../../shared/aws/table-names';
import { ENV, requireEnv } from '../../shared/env';
import { createMetrics, metricSinkOf, withMetrics } from '../../shared/metrics';
import { managementApiDisconnector, userBudgetOf } from '../../shared/route-kit';
import { createAttachmentsHandler } from './attachments';

const SERVICE_NAME = 'chat-attachments';
const logger = new Logger({ serviceName: SERVICE_NAME });
const metrics = createMetrics(SERVICE_NAME);
const ddb = createDocumentClient();

export const handler = withMetrics(
  metrics,
  createAttachmentsHandler({
    ddb,
    s3: createS3Client(),
    tables: tableNamesFromEnv(['conversations']),
    userBudget: userBudgetOf(ddb, tableNamesFromEnv(['connections'])),
    bucket: requireEnv(ENV.attachmentsBucket),
    now: () => new Date(),
    logger,
    disconnect: managementApiDisconnector(requireEnv(ENV.managementEndpoint)),
    metrics: metricSinkOf(metrics),
  }),
);
