/** The SQS client (its own module: see ./dynamodb.ts); the endpoint comes from AWS_ENDPOINT_URL_SQS if set. */
import { SQSClient } from '@aws-sdk/client-sqs';
import { INVOCATION_GUARD_STEP, invocationGuard } from '../invocation';

/** An SQS client carrying the invocation guard (shared/invocation.ts). */
export function createSqsClient(): SQSClient {
  const client = new SQSClient({});
  client.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  return client;
}
