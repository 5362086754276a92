/** The S3 client (its own module: see ./dynamodb.ts). */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { INVOCATION_GUARD_STEP, invocationGuard } from '../invocation';

/**
 * Signs attachment URLs; carries the invocation guard (shared/invocation.ts). The endpoint, as for every
 * client, comes from AWS_ENDPOINT_URL_S3 if set. Checksums only where S3 requires them: by default the SDK
 * signs a CRC32 of the body into a presigned PUT, and with no body at signing time that is the CRC32 of
 * nothing, which S3 then holds the upload to. `config` is for tests, which give a region and credentials.
 */
export function createS3Client(config: S3ClientConfig = {}): S3Client {
  const client = new S3Client({
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...config,
  });
  client.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  return client;
}
