/** Lambda entry of the conversation routes and `$default` (lib/wiring.ts). Logic: ./conversations.ts. */
import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient, tableNamesFromEnv } from '../../shared/aws';
import { createConversationsHandler } from './conversations';

const logger = new Logger({ serviceName: 'chat-conversations' });
const tables = tableNamesFromEnv(['conversations', 'subscriptions', 'connections', 'messages']);
const ddb = createDocumentClient();

export const handler = createConversationsHandler({ ddb, tables, logger });
