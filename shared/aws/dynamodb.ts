/**
 * The DynamoDB client, created once per Lambda container. Like every client module of shared/aws/, it
 * imports only its own SDK package: esbuild keeps every `require` of an external package a bundle reaches,
 * used or not, and each client package a function loads adds to its cold start (docs/operations.md#bundles).
 * The endpoint comes from the SDK's own configuration (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB), so the
 * same code talks to AWS, LocalStack or the local runtime without knowing which.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CONSUMED_CAPACITY_STEP, consumedCapacityMiddleware } from '../consumed-capacity';
import { INVOCATION_GUARD_STEP, invocationGuard } from '../invocation';
import { requestTimeoutConfig } from './request-timeout';

/**
 * A document client carrying the invocation guard (shared/invocation.ts: a stopped invocation makes no
 * more calls, and benchmarks count calls) and reporting consumed capacity while the bench listens
 * (shared/consumed-capacity.ts). With `requestTimeoutMs`, each attempt fails after that long
 * (./request-timeout.ts); without it an attempt waits as long as the service takes.
 */
export function createDocumentClient(requestTimeoutMs?: number): DynamoDBDocumentClient {
  const client = new DynamoDBClient(requestTimeoutConfig(requestTimeoutMs));
  client.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  client.middlewareStack.add(consumedCapacityMiddleware(), CONSUMED_CAPACITY_STEP);
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
}
