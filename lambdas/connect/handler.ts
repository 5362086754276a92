import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient, tableNamesFromEnv } from '../../shared/aws';
import { ENV, requireEnv } from '../../shared/env';
import { EPHEMERAL_POSTER_OPTIONS } from '../../shared/ephemeral';
import { createManagementClient, createPoster } from '../../shared/poster';
import { createConnectHandler } from './lifecycle';
import { createOfflineAnnouncer, createOnlineAnnouncer } from './presence';

const logger = new Logger({ serviceName: 'chat-connect' });
const ddb = createDocumentClient();
const tables = tableNamesFromEnv(['connections', 'subscriptions', 'conversations']);
const now = () => new Date();
const management = createManagementClient(
  requireEnv(ENV.managementEndpoint),
  EPHEMERAL_POSTER_OPTIONS.timeoutMs,
);

const presence = {
  ddb,
  tables,
  logger,
  now,
  post: createPoster({
    client: management,
    sleep: (ms) => sleep(ms),
    random: Math.random,
    options: EPHEMERAL_POSTER_OPTIONS,
  }),
};

export const handler = createConnectHandler({
  ddb,
  tables,
  logger,
  now,
  announceOnline: createOnlineAnnouncer(presence),
  announceOffline: createOfflineAnnouncer(presence),
});
