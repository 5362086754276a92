/** Lambda entry of the `uploadUrl` and `downloadUrl` routes. The logic lives in ./attachments.ts. */
import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient, createS3Client, tableNamesFromEnv } from '../../shared/aws';
import { ENV, requireEnv } from '../../shared/env';
import { createAttachmentsHandler } from './attachments';

const logger = new Logger({ serviceName: 'chat-attachments' });

export const handler = createAttachmentsHandler({
  ddb: createDocumentClient(),
  s3: createS3Client(),
  tables: tableNamesFromEnv(['conversations']),
  bucket: requireEnv(ENV.attachmentsBucket),
  now: () => new Date(),
  logger,
});
