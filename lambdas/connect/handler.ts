/** Lambda entry of `$connect` and `$disconnect` (lib/wiring.ts). Logic: ./lifecycle.ts and ./presence.ts. */
import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient } from '../../shared/aws/dynamodb';
import { tableNamesFromEnv } from '../../shared/aws/table-names';
import { ENV, requireEnv } from '../../shared/env';
import { createEphemeralPoster } from '../../shared/ephemeral';
import { createConnectHandler } from './lifecycle';
import { createOfflineAnnouncer, createOnlineAnnouncer } from './presence';

const logger = new Logger({ serviceName: 'chat-connect' });
const ddb = createDocumentClient();
const tables = tableNamesFromEnv(['connections', 'subscriptions', 'conversations']);
const now = () => new Date();
const presence = {
  ddb,
  tables,
  logger,
  now,
  post: createEphemeralPoster(requireEnv(ENV.managementEndpoint)),
};

export const handler = createConnectHandler({
  ddb,
  tables,
  logger,
  now,
  announceOnline: createOnlineAnnouncer(presence),
  announceOffline: createOfflineAnnouncer(presence),
});
