/** Lambda entry of the `send`, `edit` and `delete` WebSocket routes. Its routes are in ./routes.ts. */
import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient, createSqsClient, tableNamesFromEnv } from '../../shared/aws';
import { ENV, requireEnv } from '../../shared/env';
import { createSendHandler } from './routes';

const logger = new Logger({ serviceName: 'chat-send' });

export const handler = createSendHandler({
  ddb: createDocumentClient(),
  sqs: createSqsClient(),
  tables: tableNamesFromEnv(['conversations', 'messages', 'idempotency']),
  fanoutQueueUrl: requireEnv(ENV.fanoutQueueUrl),
  now: () => new Date(),
  logger,
});
