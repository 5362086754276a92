/**
 * The route handler: two-way routes keyed by action and typed from the action table
 * (shared/protocol/actions.ts), each run against its deadline, every failure answered by one error policy
 * (shared/errors.ts `toChatError`).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { RateLimitedError, TokenExpiredError, toChatError, UnknownActionError } from '../errors';
import { ConnectionFrameLimiter, type FrameRate, type FrameRefusal } from '../frame-rate';
import { runScoped } from '../invocation';
import type { MetricSink } from '../metrics';
import { ACTIONS, type AckOf, type Action, type ActionCost, isAction, type RequestOf } from '../protocol';
import type { UserBudget } from './budget';
import { INTEGRATION_TIMEOUT_MS, type InvocationContext, REPLY_MARGIN_MS, withDeadline } from './deadline';
import { type CloseFn, CONNECTION_FRAME_RATE } from './flooding';
import {
  errorFrame,
  parsedOrUndefined,
  parseFrame,
  type RouteEvent,
  type RouteResult,
  reply,
  requestIdOf,
  tokenExpiryOf,
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
  /**
   * Takes the frame's token from its user's budget (once, however often called). The route kit calls it
   * before the route runs, except for the actions a handler names in `chargedByRoute`, whose route calls
   * it itself (a send once admitted, so a send answered `busy` at the gate costs no request).
   */
  charge?: () => Promise<void>;
  /**
   * When the connection's token expires (epoch seconds, from the authorizer's `exp`); no frame runs after
   * it. Stored with a subscription so the fan-out stops pushing to it then. Undefined for a connection
   * opened before the authorizer passed `exp`.
   */
  tokenExpiresAt?: number;
}

/** The route of action `A`: its validated frame and its caller in, its ack payload out. Throws ChatErrors. */
export type ActionRoute<A extends Action> = (frame: RequestOf<A>, caller: Caller) => Promise<AckOf<A>>;

/** Routes keyed by action, each typed from the action table; a handler serves the ones it is given. */
export type ActionRoutes = { [A in Action]?: ActionRoute<A> };

/** What the route kit runs with, all passed in: it reads nothing from the environment. */
export interface RouteKitDeps {
  logger: Logger;
  /** Epoch ms now: the frame rate's clock and the start of each deadline. */
  clock: () => number;
  /** Frames per connection; handlers pass CONNECTION_FRAME_RATE. */
  frameRate: FrameRate;
  /**
   * Closes a connection that keeps sending while refused, or whose token expired (after posting the
   * `token_expired` refusal to it); handlers pass `managementApiDisconnector`.
   */
  disconnect: CloseFn;
  /** Counts every `busy` and `rate_limited` answer. */
  metrics: MetricSink;
  /**
   * The per-user budget each frame's cost class is taken from before its route runs (./budget.ts);
   * handlers pass `userBudgetOf`. @default none: only the connection's frame rate bounds a user
   */
  userBudget?: UserBudget;
}

/** A two-way route's Lambda handler, as {@link createActionHandler} makes it. */
export type ActionHandler = (event: RouteEvent, context?: InvocationContext) => Promise<RouteResult>;

/** What a function hands the route kit: its logger and clock, how it closes a connection, its sink. */
export interface FunctionKitDeps {
  logger: Logger;
  now: () => Date;
  disconnect: CloseFn;
  metrics: MetricSink;
  /** @default none (see RouteKitDeps.userBudget) */
  userBudget?: UserBudget;
}

/** The route kit's deps of a function: its own logger, clock, disconnect, sink and budgets, at CONNECTION_FRAME_RATE. */
export function routeKitOf({ logger, now, disconnect, metrics, userBudget }: FunctionKitDeps): RouteKitDeps {
  return {
    logger,
    clock: () => now().getTime(),
    frameRate: CONNECTION_FRAME_RATE,
    disconnect,
    metrics,
    ...(userBudget === undefined ? {} : { userBudget }),
  };
}

/**
 * Makes a Lambda handler for the routes given, keyed by action; each frame is validated against its
 * action's schema in the action table, and each route's result must be its action's ack payload. A
 * frame whose action has no route here gets `unknown_action`, so the same handler can serve `$default`.
 * Every frame counts against its connection's frame rate, malformed ones included; over it a frame gets
 * `rate_limited` without running its route, so it costs no AWS call, and the frame that takes a
 * connection past `frameRate.closeAfterRefused` refusals also closes it through `disconnect` (one call per
 * such connection). A frame that arrives once the connection's token has expired (the authorizer's `exp`,
 * no tolerance) runs nothing: `disconnect` posts it the `token_expired` refusal and closes the connection
 * (two calls, once per connection). A frame past its user's budget for its action's cost class
 * (`userBudget`) is refused `rate_limited` before its route runs. Any failure is answered by
 * `toChatError`: throttling and running out of time are `busy` with `retryAfterMs` on every route.
 */
export function createActionHandler(
  deps: RouteKitDeps,
  routes: ActionRoutes,
  options: { chargedByRoute?: readonly Action[] } = {},
): ActionHandler {
  const { logger, clock, frameRate, disconnect, metrics, userBudget } = deps;
  const frames = new ConnectionFrameLimiter(frameRate);
  /** The frame's charge to its user's budget of its cost class, taken at most once. */
  const chargeOnce = (cost: ActionCost, userId: string, signal: AbortSignal): (() => Promise<void>) => {
    let taken: Promise<void> | undefined;
    return () => {
      if (userBudget === undefined || cost === 'free') return Promise.resolve();
      taken ??= userBudget(userId, cost, signal);
      return taken;
    };
  };
  /** Runs a route once its frame is paid for, unless the route pays itself (`chargedByRoute`). */
  const charged = async (action: Action, caller: Caller, route: () => Promise<object>): Promise<object> => {
    if (!options.chargedByRoute?.includes(action)) await caller.charge?.();
    return route();
  };
  /** Never throws: a failed close leaves the refusal's answer as it is. */
  const close = async (connectionId: string, why: string, lastFrame?: string): Promise<void> => {
    try {
      await (lastFrame === undefined ? disconnect(connectionId) : disconnect(connectionId, lastFrame));
    } catch (err: unknown) {
      logger.error(`Could not close a connection ${why}`, {
        connectionId,
        error: err instanceof Error ? err : String(err),
      });
    }
  };
  const closeFlooding = async (connectionId: string, refusal: FrameRefusal): Promise<void> => {
    logger.warn('Closing a connection that kept sending while refused', {
      connectionId,
      refused: refusal.refused,
    });
    await close(connectionId, 'that kept sending while refused');
  };
  /** The route's own answer is lost once the connection is deleted: the refusal is posted before it. */
  const closeExpired = async (connectionId: string, requestId: string | undefined): Promise<never> => {
    const refusal = new TokenExpiredError();
    await close(connectionId, 'whose token expired', JSON.stringify(errorFrame(refusal, requestId)));
    throw refusal;
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
      const tokenExpiresAt = tokenExpiryOf(event);
      if (tokenExpiresAt !== undefined && clock() >= tokenExpiresAt * 1000) {
        frame = parsedOrUndefined(event.body);
        await closeExpired(connectionId, requestIdOf(frame));
      }
      const refusal = frames.take(connectionId, clock());
      if (refusal !== undefined) {
        frame = parsedOrUndefined(event.body);
        if (refusal.close) await closeFlooding(connectionId, refusal);
        throw new RateLimitedError('Too many frames on this connection', refusal.retryAfterMs);
      }
      frame = parseFrame(event.body);
      const action = frame.action;
      if (!isAction(action)) throw new UnknownActionError(action);
      const run: ((frame: never, caller: Caller) => Promise<object>) | undefined = routes[action];
      if (run === undefined) throw new UnknownActionError(action);
      const valid = validate(ACTIONS[action].request, frame);
      const userId = userIdOf(event);
      const caller: Caller = {
        userId,
        connectionId,
        awsRequestId,
        deadline: clock() + budgetMs,
        signal: outOfTime.signal,
        ...(tokenExpiresAt === undefined ? {} : { tokenExpiresAt }),
        ...(userBudget === undefined
          ? {}
          : { charge: chargeOnce(ACTIONS[action].cost, userId, outOfTime.signal) }),
      };
      // A route's key is its action but on $default: each line says it once (it is paid per byte).
      logger.appendKeys({ userId: caller.userId, ...(action === routeKey ? {} : { action }) });
      if (typeof frame.conversationId === 'string')
        logger.appendKeys({ conversationId: frame.conversationId });
      const result = await runScoped(routeKey, answered.signal, () =>
        withDeadline(
          charged(action, caller, () => run(valid as never, caller)),
          budgetMs,
          outOfTime,
        ),
      );
      const requestId = requestIdOf(frame);
      return reply({ type: 'ack', action, ...(requestId ? { requestId } : {}), ...result });
    } catch (err: unknown) {
      const chatError = toChatError(err);
      if (chatError.code === 'busy') metrics.record('busy');
      if (chatError.code === 'rate_limited') metrics.record('rateLimited');
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
