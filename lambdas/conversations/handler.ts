/** Lambda entry of the conversation routes and `$default` (lib/wiring.ts). Routes: ./routes.ts. */
import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient, createSqsClient, tableNamesFromEnv } from '../../shared/aws';
import { ENV, requireEnv } from '../../shared/env';
import { createEphemeralPoster } from '../../shared/ephemeral';
import { createConversationsHandler } from './routes';

export const handler = createConversationsHandler({
  ddb: createDocumentClient(),
  tables: tableNamesFromEnv(['conversations', 'subscriptions', 'connections', 'messages']),
  logger: new Logger({ serviceName: 'chat-conversations' }),
  ephemeral: { post: createEphemeralPoster(requireEnv(ENV.managementEndpoint)) },
  membership: { sqs: createSqsClient(), fanoutQueueUrl: requireEnv(ENV.fanoutQueueUrl) },
});
