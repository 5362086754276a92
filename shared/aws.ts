/**
 * SDK clients, created once per Lambda container. Endpoints come from the SDK's own configuration
 * (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS, ...), so the same code talks to
 * AWS, LocalStack or the local runtime without knowing which. Every client carries the invocation
 * guard (shared/invocation.ts): a stopped invocation makes no more calls, and benchmarks count calls;
 * the DynamoDB client also reports consumed capacity while the bench listens (shared/consumed-capacity.ts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CONSUMED_CAPACITY_STEP, consumedCapacityMiddleware } from './consumed-capacity';
import { requireEnv } from './env';
import { INVOCATION_GUARD_STEP, invocationGuard } from './invocation';
import { TABLE_ENV, type TableName, type TableNames } from './tables';

export function createDocumentClient(): DynamoDBDocumentClient {
  const client = new DynamoDBClient({});
  client.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  client.middlewareStack.add(consumedCapacityMiddleware(), CONSUMED_CAPACITY_STEP);
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function createSqsClient(): SQSClient {
  const client = new SQSClient({});
  client.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  return client;
}

/** Puts offline-member events; the endpoint comes from AWS_ENDPOINT_URL_EVENTBRIDGE if set. */
export function createEventBridgeClient(): EventBridgeClient {
  const client = new EventBridgeClient({});
  client.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  return client;
}

/**
 * Signs attachment URLs; the endpoint, as for every client, comes from AWS_ENDPOINT_URL_S3 if set.
 * Checksums only where S3 requires them: by default the SDK signs a CRC32 of the body into a presigned
 * PUT, and with no body at signing time that is the CRC32 of nothing, which S3 then holds the upload to.
 * `config` is for tests, which give a region and credentials.
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

/** Reads the physical names of the given tables from the environment; fails naming a missing variable. */
export function tableNamesFromEnv<T extends TableName>(
  names: readonly T[],
  env: NodeJS.ProcessEnv = process.env,
): Pick<TableNames, T> {
  const result = {} as Pick<TableNames, T>;
  for (const name of names) result[name] = requireEnv(TABLE_ENV[name], env);
  return result;
}
