/** Lambda entry of the conversation routes and `$default` (lib/wiring.ts). Routes: ./routes.ts. */
import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient } from '../../shared/aws/dynamodb';
import { createSqsClient } from '../../shared/aws/sqs';
import { tableNamesFromEnv } from '../../shared/aws/table-names';
import { ENV, requireEnv } from '../../shared/env';
import { createEphemeralPoster } from '../../shared/ephemeral';
import { createMetrics, metricSinkOf, withMetrics } from '../../shared/metrics';
import { managementApiDisconnector, userBudgetOf } from '../../shared/route-kit';
import { createConversationsHandler } from './routes';

const SERVICE_NAME = 'chat-conversations';
const metrics = createMetrics(SERVICE_NAME);
const managementEndpoint = requireEnv(ENV.managementEndpoint);
const ddb = createDocumentClient();
const tables = tableNamesFromEnv(['conversations', 'subscriptions', 'connections', 'messages']);

export const handler = withMetrics(
  metrics,
  createConversationsHandler({
    ddb,
    tables,
    userBudget: userBudgetOf(ddb, tables),
    logger: new Logger({ serviceName: SERVICE_NAME }),
    disconnect: managementApiDisconnector(managementEndpoint),
    metrics: metricSinkOf(metrics),
    ephemeral: { post: createEphemeralPoster(managementEndpoint) },
    membership: { sqs: createSqsClient(), fanoutQueueUrl: requireEnv(ENV.fanoutQueueUrl) },
  }),
);
