/** How the send function's failures become `busy`, and how long each kind tells the client to wait. */
import { BusyError } from '../../shared/errors';
import { OUT_OF_TIME_RETRY_MS } from '../../shared/websocket';

/** How long to wait when DynamoDB or SQS throttle: long enough for a partition to recover. */
export const THROTTLED_RETRY_MS = 1_000;

/** The least a client waits before asking again about a message still in flight. */
export const IN_FLIGHT_RETRY_MIN_MS = 250;

/** Throttling errors of DynamoDB and SQS, after the SDK's own retries. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'TransactionConflictException',
]);

/** The route's deadline passed (its abort signal fired) or the runtime stopped the invocation. */
const isOutOfTime = (err: unknown): boolean =>
  err instanceof Error && (err.name === 'AbortError' || err.name === 'InvocationStoppedError');

/** Throttling and running out of time are `busy`: safe to resend after a pause. */
export function asBusy(err: unknown): unknown {
  if (err instanceof Error && THROTTLING.has(err.name)) {
    return new BusyError('The conversation is saturated', THROTTLED_RETRY_MS);
  }
  if (isOutOfTime(err)) return new BusyError('The request ran out of time', OUT_OF_TIME_RETRY_MS);
  return err;
}

export const rethrowAsBusy = (err: unknown): never => {
  throw asBusy(err);
};
