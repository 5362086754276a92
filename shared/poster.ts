/**
 * The connection poster: pushes one frame to one WebSocket connection through the API Gateway
 * management API. Throttling, server errors and timeouts are retried a bounded number of times with
 * jittered backoff; a 410 is reported as `gone` so the caller can forget the connection. The fan-out
 * Lambda and the local runtime both post through here, so retry behaviour is the same in both.
 */

import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { type BackoffPolicy, fullJitterDelay } from './backoff';
import { isAwsError } from './errors';
import { INVOCATION_GUARD_STEP, invocationGuard } from './invocation';

export interface PosterOptions extends BackoffPolicy {
  /** Attempts per post, the first included. */
  maxAttempts: number;
  /** Per-attempt deadline, so one slow connection holds a concurrency slot only this long. */
  timeoutMs: number;
}

export const DEFAULT_POSTER_OPTIONS: PosterOptions = {
  maxAttempts: 4,
  baseDelayMs: 100,
  maxDelayMs: 2_000,
  timeoutMs: 3_000,
};

export interface PosterDeps {
  client: Pick<ApiGatewayManagementApiClient, 'send'>;
  sleep: (ms: number) => Promise<void>;
  /** Returns a number in [0, 1), like Math.random; injected so tests control the jitter. */
  random: () => number;
  options?: Partial<PosterOptions>;
}

export type PostResult =
  | { status: 'delivered'; attempts: number }
  | { status: 'gone'; attempts: number }
  | { status: 'failed'; attempts: number; retryable: boolean; throttled: boolean; error: unknown };

/** Posts `data` to one connection; never throws, the outcome is in the result. */
export type PostFn = (connectionId: string, data: string) => Promise<PostResult>;

type PostErrorKind = 'gone' | 'retryable' | 'fatal';

const THROTTLING_NAMES = new Set([
  'LimitExceededException',
  'TooManyRequestsException',
  'ThrottlingException',
]);
const RETRYABLE_NAMES = new Set([...THROTTLING_NAMES, 'TimeoutError', 'AbortError']);
const RETRYABLE_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE']);

function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('$metadata' in err)) return undefined;
  const metadata = err.$metadata;
  if (typeof metadata !== 'object' || metadata === null || !('httpStatusCode' in metadata)) return undefined;
  return typeof metadata.httpStatusCode === 'number' ? metadata.httpStatusCode : undefined;
}

function networkCodeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

/** True when API Gateway refused for rate: a limit of the whole API or account, not of one connection. */
export function isThrottlingError(err: unknown): boolean {
  return (err instanceof Error && THROTTLING_NAMES.has(err.name)) || httpStatusOf(err) === 429;
}

/** Sorts a postToConnection failure into "connection is gone", "try again" or "will not get better". */
export function classifyPostError(err: unknown): PostErrorKind {
  const status = httpStatusOf(err);
  if (isAwsError(err, 'GoneException') || status === 410) return 'gone';
  if (err instanceof Error && RETRYABLE_NAMES.has(err.name)) return 'retryable';
  if (status !== undefined && (status === 429 || status >= 500)) return 'retryable';
  const code = networkCodeOf(err);
  if (code !== undefined && RETRYABLE_NETWORK_CODES.has(code)) return 'retryable';
  return 'fatal';
}

/**
 * Posts `data` to one connection, retrying throttling, 5xx and timeouts up to `maxAttempts` times.
 * @returns `delivered`, `gone` for a 410 (never retried), or `failed` with the last error.
 */
export async function postToConnection(
  deps: PosterDeps,
  connectionId: string,
  data: string,
): Promise<PostResult> {
  const options = { ...DEFAULT_POSTER_OPTIONS, ...deps.options };
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }), {
        abortSignal: AbortSignal.timeout(options.timeoutMs),
      });
      return { status: 'delivered', attempts: attempt };
    } catch (err: unknown) {
      const kind = classifyPostError(err);
      if (kind === 'gone') return { status: 'gone', attempts: attempt };
      if (kind === 'fatal' || attempt >= options.maxAttempts) {
        return {
          status: 'failed',
          attempts: attempt,
          retryable: kind === 'retryable',
          throttled: isThrottlingError(err),
          error: err,
        };
      }
      await deps.sleep(fullJitterDelay(attempt, deps.random, options));
    }
  }
}

/** Binds the dependencies once, for callers that post many times. */
export function createPoster(deps: PosterDeps): PostFn {
  return (connectionId, data) => postToConnection(deps, connectionId, data);
}

/** Closes a connection through the management API; one that is already gone counts as closed. */
export type DisconnectFn = (connectionId: string) => Promise<void>;

/** Binds a management client into a {@link DisconnectFn}. */
export function createDisconnector(client: Pick<ApiGatewayManagementApiClient, 'send'>): DisconnectFn {
  return async (connectionId) => {
    try {
      await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    } catch (err: unknown) {
      if (classifyPostError(err) !== 'gone') throw err;
    }
  };
}

/** Sockets a management client may open: more than the posts any process has in flight. */
export const MAX_SOCKETS = 1_000;

/**
 * A management API client for the given endpoint (the stage callback URL, or the local emulator).
 * The SDK's own retries are off because {@link postToConnection} retries with its own bounded policy;
 * the request timeout makes a hung connection fail instead of holding the fan-out.
 */
export function createManagementClient(
  endpoint: string,
  timeoutMs: number = DEFAULT_POSTER_OPTIONS.timeoutMs,
): ApiGatewayManagementApiClient {
  const client = new ApiGatewayManagementApiClient({
    endpoint,
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: 1_000,
      requestTimeout: timeoutMs,
      throwOnRequestTimeout: true,
      // The SDK's pool keeps 50 sockets, and a post waiting for one spends its timeouts waiting. On Lambda an
      // environment runs one invocation (at most 50 posts at once); the local runtime runs every invocation of
      // a function in one process, sharing this module's client, so the pool must not be what they wait for.
      httpAgent: { maxSockets: MAX_SOCKETS },
      httpsAgent: { maxSockets: MAX_SOCKETS },
    },
  });
  client.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  return client;
}
