import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient, tableNamesFromEnv } from '../../shared/aws';
import { createConnectHandler } from './lifecycle';

const logger = new Logger({ serviceName: 'chat-connect' });

export const handler = createConnectHandler({
  ddb: createDocumentClient(),
  tables: tableNamesFromEnv(['connections', 'subscriptions']),
  logger,
  now: () => new Date(),
});
