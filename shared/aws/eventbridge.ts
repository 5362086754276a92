/** The EventBridge client (its own module: see ./dynamodb.ts). */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { INVOCATION_GUARD_STEP, invocationGuard } from '../invocation';
import { requestTimeoutConfig } from './request-timeout';

/**
 * Puts offline-member events; carries the invocation guard (shared/invocation.ts). The endpoint comes
 * from AWS_ENDPOINT_URL_EVENTBRIDGE if set. With `requestTimeoutMs`, each attempt fails after that long
 * (./request-timeout.ts).
 */
export function createEventBridgeClient(requestTimeoutMs?: number): EventBridgeClient {
  const client = new EventBridgeClient(requestTimeoutConfig(requestTimeoutMs));
  client.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  return client;
}
