/** Small fakes the unit and local tests share. */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { vi } from 'vitest';
import { INVOCATION_GUARD_STEP, invocationGuard } from '../../shared/invocation';

/** A Powertools-shaped logger whose every method is a mock, for asserting what a handler logged. */
export function recordingLogger() {
  return {
    info: vi.fn(),
    debug: vi.fn(),
    warn: vi.fn(),
    error: vi.fn(),
    appendKeys: vi.fn(),
    removeKeys: vi.fn(),
  };
}

/**
 * Client options for an SDK client whose calls must be answered by an interceptor (interceptAwsCalls): its
 * endpoint refuses every connection, and it makes one attempt.
 */
export const UNREACHABLE_AWS = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  endpoint: 'http://127.0.0.1:1',
  maxAttempts: 1,
} as const;

/** `client` with the invocation guard, as shared/aws/ builds a function's clients. */
export function guarded<C extends DynamoDBClient | SQSClient>(client: C): C {
  // The two clients' stacks differ only in their input and output types, which the guard does not read.
  (client as DynamoDBClient).middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  return client;
}
