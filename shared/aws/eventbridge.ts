/** The EventBridge client (its own module: see ./dynamodb.ts). */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { INVOCATION_GUARD_STEP, invocationGuard } from '../invocation';

/**
 * Puts offline-member events; carries the invocation guard (shared/invocation.ts). The endpoint comes
 * from AWS_ENDPOINT_URL_EVENTBRIDGE if set.
 */
export function createEventBridgeClient(): EventBridgeClient {
  const client = new EventBridgeClient({});
  client.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  return client;
}
