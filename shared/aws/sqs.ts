/** The SQS client (its own module: see ./dynamodb.ts); the endpoint comes from AWS_ENDPOINT_URL_SQS if set. */
import { SQSClient } from '@aws-sdk/client-sqs';
import { INVOCATION_GUARD_STEP, invocationGuard } from '../invocation';
import { requestTimeoutConfig } from './request-timeout';

/**
 * An SQS client carrying the invocation guard (shared/invocation.ts); with `requestTimeoutMs`, each
 * attempt fails after that long (./request-timeout.ts).
 */
export function createSqsClient(requestTimeoutMs?: number): SQSClient {
  const client = new SQSClient(requestTimeoutConfig(requestTimeoutMs));
  client.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  return client;
}
