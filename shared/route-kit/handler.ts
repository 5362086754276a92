/** The route handler: a set of two-way routes keyed by action, each run against its deadline. */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { z } from 'zod';
import { RateLimitedError, toChatError, UnknownActionError } from '../errors';
import { ConnectionFrameLimiter, type FrameRate, type FrameRefusal } from '../frame-rate';
import { runScoped } from '../invocation';
import type { DisconnectFn } from '../poster';
import { INTEGRATION_TIMEOUT_MS, type InvocationContext, REPLY_MARGIN_MS, withDeadline } from './deadline';
import { CONNECTION_FRAME_RATE, managementApiDisconnector } from './flooding';
import {
  errorFrame,
  parsedOrUndefined,
  parseFrame,
  type RouteEvent,
  type RouteResult,
  reply,
  requestIdOf,
  userIdOf,
  validate,
} from './frames';

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
