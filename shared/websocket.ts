/**
 * The one place where an API Gateway WebSocket event becomes a validated frame and a result becomes the
 * reply frame of a two-way route. Every route handler is built with {@link createRouteHandler}.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import type { z } from 'zod';
import { ENV, optionalEnv } from './env';
import {
  BusyError,
  type ChatError,
  InvalidJsonError,
  PayloadTooLargeError,
  RateLimitedError,
  toChatError,
  UnauthorizedError,
  UnknownActionError,
  ValidationError,
} from './errors';
import { ConnectionFrameLimiter, type FrameRate, type FrameRefusal } from './frame-rate';
import { runScoped } from './invocation';
import { LIMITS } from './limits';
import { createDisconnector, createManagementClient, type DisconnectFn } from './poster';
import type { AckFrame, ErrorFrame } from './protocol';

/** The authorizer's output as API Gateway passes it to every route after `$connect`. */
export interface AuthorizerContext {
  principalId?: string;
  userId?: string;
}

export type RouteEvent = APIGatewayProxyWebsocketEventV2 & {
  requestContext: APIGatewayProxyWebsocketEventV2['requestContext'] & { authorizer?: AuthorizerContext };
};

/** What a two-way route returns: API Gateway sends `body` to the client as one text frame. */
export interface RouteResult {
  statusCode: number;
  body: string;
}

/** Who is asking, taken from the authorizer context, never from the frame. */
export interface Caller {
  userId: string;
  connectionId: string;
  /** API Gateway's request id, for correlating logs. */
  awsRequestId: string;
  /** Epoch ms by which the route must have its answer; after it the route kit answers `busy` itself. */
  deadline: number;
  /** Aborted at `deadline`: pass it to AWS calls so none outlives the answer. */
  signal: AbortSignal;
}

/** The part of the Lambda context the route kit reads. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/**
 * Time kept back from the function's remaining time to answer before Lambda's timeout: past the
 * deadline the route kit answers `busy` with the frame's requestId, so a client never gets API Gateway's
 * anonymous "Internal server error" for a timed-out invocation.
 */
export const REPLY_MARGIN_MS = 1_000;

/** The budget of a route invoked without a Lambda context: API Gateway's 29 s integration timeout. */
const INTEGRATION_TIMEOUT_MS = 29_000;

/** How long a client waits before resending a frame that ran out of time. */
export const OUT_OF_TIME_RETRY_MS = 1_000;

export interface RouteDefinition<S extends z.ZodType> {
  schema: S;
  /** Runs the action; its result is spread into the ack frame. Throws ChatError subclasses. */
  run: (frame: z.infer<S>, caller: Caller) => Promise<Record<string, unknown>>;
}

type Routes = Record<string, RouteDefinition<z.ZodType>>;

/** Builds a route definition with the frame type inferred from its schema. */
export function route<S extends z.ZodType>(definition: RouteDefinition<S>): RouteDefinition<z.ZodType> {
  return definition as RouteDefinition<z.ZodType>;
}

/** The caller's user id, as the authorizer put it in the request context. */
export function userIdOf(event: Pick<RouteEvent, 'requestContext'>): string {
  const authorizer = event.requestContext.authorizer;
  const userId = authorizer?.userId ?? authorizer?.principalId;
  if (typeof userId !== 'string' || userId === '') throw new UnauthorizedError('No authenticated user');
  return userId;
}

/** Parses a raw frame: size first (cheap), then JSON, then that it is an object. */
export function parseFrame(raw: string | undefined): Record<string, unknown> {
  const text = raw ?? '';
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > LIMITS.maxFrameBytes) throw new PayloadTooLargeError('The frame', LIMITS.maxFrameBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidJsonError();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidJsonError('The frame is JSON but not an object; send {"action": …}');
  }
  return parsed as Record<string, unknown>;
}

/** Validates a frame against its schema, listing every problem with its field path. */
export function validate<S extends z.ZodType>(schema: S, frame: unknown): z.infer<S> {
  const result = schema.safeParse(frame);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const limit: unknown = issue.code === 'custom' ? issue.params?.payloadTooLargeLimit : undefined;
      if (typeof limit === 'number') throw new PayloadTooLargeError(`The ${issue.path.join('.')}`, limit);
    }
    throw new ValidationError(
      result.error.issues.map((issue) => `${issue.path.join('.') || 'frame'}: ${issue.message}`),
    );
  }
  return result.data;
}

export function errorFrame(err: ChatError, requestId: string | undefined): ErrorFrame {
  return {
    type: 'error',
    ...(requestId === undefined ? {} : { requestId }),
    code: err.code,
    message: err.message,
    retryable: err.retryable,
    ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
  };
}

function reply(frame: AckFrame | ErrorFrame): RouteResult {
  return { statusCode: 200, body: JSON.stringify(frame) };
}

/** The frame if it parses, else undefined: a refusal answers with its requestId when it has one. */
function parsedOrUndefined(raw: string | undefined): Record<string, unknown> | undefined {
  try {
    return parseFrame(raw);
  } catch {
    return undefined;
  }
}

function requestIdOf(frame: Record<string, unknown> | undefined): string | undefined {
  const value = frame?.requestId;
  return typeof value === 'string' && value.length <= 64 ? value : undefined;
}

const EXPIRED = Symbol('expired');

/** Resolves with EXPIRED after `ms`, unless the returned cancel runs first. */
function expiry(ms: number): { expired: Promise<typeof EXPIRED>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<typeof EXPIRED>((resolve) => {
    timer = setTimeout(() => resolve(EXPIRED), Math.max(0, ms));
  });
  return { expired, cancel: () => clearTimeout(timer) };
}

/**
 * Runs a route against its deadline. At the deadline its signal is aborted, and it gets half the reply
 * margin to settle: its own cleanup (a send filling the seq it reserved, giving back its claim) must
 * happen before the reply, because Lambda runs nothing after the handler returns. An answer that arrives
 * in that time is still sent; otherwise the reply is `busy`.
 */
async function withDeadline<T>(running: Promise<T>, budgetMs: number, abort: AbortController): Promise<T> {
  const deadline = expiry(budgetMs);
  try {
    const first = await Promise.race([running, deadline.expired]);
    if (first !== EXPIRED) return first;
  } finally {
    deadline.cancel();
  }
  abort.abort();
  const grace = expiry(REPLY_MARGIN_MS / 2);
  try {
    const settled = await Promise.race([
      running.then(
        (value): { value: T } => ({ value }),
        (): typeof EXPIRED => EXPIRED,
      ),
      grace.expired,
    ]);
    if (settled !== EXPIRED) return settled.value;
  } finally {
    grace.cancel();
  }
  throw new BusyError('The request ran out of time', OUT_OF_TIME_RETRY_MS);
}

/** Frames per connection each handler admits (shared/frame-rate.ts); over it a frame is `rate_limited`. */
export const CONNECTION_FRAME_RATE: FrameRate = {
  ratePerSecond: LIMITS.connectionFramesPerSecond,
  burst: LIMITS.connectionFrameBurst,
  closeAfterRefused: LIMITS.connectionFramesRefusedBeforeClose,
};

/** How long a refused frame's answer waits for the DeleteConnection of its connection. */
const CLOSE_TIMEOUT_MS = 1_000;

/**
 * Closes connections through the stage's management API at ENV.managementEndpoint (the stage's callback
 * URL on AWS, the emulator's locally), which the stack gives every function behind a two-way route. The
 * variable is read once, when the route kit is built, and is optional: unit tests build handlers without
 * a management API. Without it a close fails with a message naming the variable; the refusal is answered
 * all the same.
 */
function managementApiDisconnector(): DisconnectFn {
  const endpoint = optionalEnv(ENV.managementEndpoint);
  if (endpoint === undefined) {
    return async () => {
      throw new Error(`${ENV.managementEndpoint} is not set: cannot close connections`);
    };
  }
  return createDisconnector(createManagementClient(endpoint, CLOSE_TIMEOUT_MS));
}

/**
 * Makes a Lambda handler for a set of two-way routes keyed by `action`. A frame whose action is not
 * in `routes` gets `unknown_action`, so the same handler can serve `$default`. Every frame counts against
 * its connection's frame rate, malformed ones included; over it a frame gets `rate_limited` without
 * running its route, so it costs no AWS call, and the frame that takes a connection past
 * `frameRate.closeAfterRefused` refusals also closes it through `disconnect` (one call per such connection).
 */
export function createRouteHandler(
  logger: Logger,
  routes: Routes,
  clock: () => number = Date.now,
  frameRate: FrameRate = CONNECTION_FRAME_RATE,
  disconnect: DisconnectFn = managementApiDisconnector(),
): (event: RouteEvent, context?: InvocationContext) => Promise<RouteResult> {
  const frames = new ConnectionFrameLimiter(frameRate);
  /** Never throws: a failed close leaves the refusal's answer as it is. */
  const closeFlooding = async (connectionId: string, refusal: FrameRefusal): Promise<void> => {
    logger.warn('Closing a connection that kept sending while refused', {
      connectionId,
      refused: refusal.refused,
    });
    try {
      await disconnect(connectionId);
    } catch (err: unknown) {
      logger.error('Could not close a connection that kept sending while refused', {
        connectionId,
        error: err instanceof Error ? err : String(err),
      });
    }
  };
  return async (event, context) => {
    const { connectionId, requestId: awsRequestId, routeKey } = event.requestContext;
    logger.appendKeys({ connectionId, routeKey });
    const budgetMs = (context?.getRemainingTimeInMillis() ?? INTEGRATION_TIMEOUT_MS) - REPLY_MARGIN_MS;
    const outOfTime = new AbortController();
    // Once the reply is out, whatever the route still runs (a frozen Lambda resumes it later) calls nothing.
    const answered = new AbortController();
    let frame: Record<string, unknown> | undefined;
    try {
      const refusal = frames.take(connectionId, clock());
      if (refusal !== undefined) {
        frame = parsedOrUndefined(event.body);
        if (refusal.close) await closeFlooding(connectionId, refusal);
        throw new RateLimitedError('Too many frames on this connection', refusal.retryAfterMs);
      }
      frame = parseFrame(event.body);
      const action = frame.action;
      const definition =
        typeof action === 'string' && Object.hasOwn(routes, action) ? routes[action] : undefined;
      if (definition === undefined) throw new UnknownActionError(action);
      const valid = validate(definition.schema, frame);
      const caller: Caller = {
        userId: userIdOf(event),
        connectionId,
        awsRequestId,
        deadline: clock() + budgetMs,
        signal: outOfTime.signal,
      };
      logger.appendKeys({ userId: caller.userId, action });
      if (typeof frame.conversationId === 'string')
        logger.appendKeys({ conversationId: frame.conversationId });
      const result = await runScoped(routeKey, answered.signal, () =>
        withDeadline(definition.run(valid, caller), budgetMs, outOfTime),
      );
      const requestId = requestIdOf(frame);
      return reply({ type: 'ack', action: action as string, ...(requestId ? { requestId } : {}), ...result });
    } catch (err: unknown) {
      const chatError = toChatError(err);
      if (chatError.code === 'internal_error')
        logger.error('Request failed', { error: err instanceof Error ? err : String(err) });
      else logger.warn('Request refused', { code: chatError.code, reason: chatError.message });
      return reply(errorFrame(chatError, requestIdOf(frame)));
    } finally {
      answered.abort();
      logger.removeKeys(['connectionId', 'routeKey', 'userId', 'action', 'conversationId', 'seq']);
    }
  };
}
