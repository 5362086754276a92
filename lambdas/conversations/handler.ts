/** Lambda entry of the conversation routes and `$default` (lib/wiring.ts). Logic: ./conversations.ts. */
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient, createSqsClient, tableNamesFromEnv } from '../../shared/aws';
import { ENV, requireEnv } from '../../shared/env';
import { EPHEMERAL_POSTER_OPTIONS } from '../../shared/ephemeral';
import { createManagementClient, createPoster } from '../../shared/poster';
import { createConversationsHandler } from './conversations';

const logger = new Logger({ serviceName: 'chat-conversations' });
const tables = tableNamesFromEnv(['conversations', 'subscriptions', 'connections', 'messages']);
const ddb = createDocumentClient();
const management = createManagementClient(
  requireEnv(ENV.managementEndpoint),
  EPHEMERAL_POSTER_OPTIONS.timeoutMs,
);
const post = createPoster({
  client: management,
  sleep: (ms) => sleep(ms),
  random: Math.random,
  options: EPHEMERAL_POSTER_OPTIONS,
});

export const handler = createConversationsHandler({
  ddb,
  tables,
  logger,
  ephemeral: { post },
  membership: { sqs: createSqsClient(), fanoutQueueUrl: requireEnv(ENV.fanoutQueueUrl) },
});
