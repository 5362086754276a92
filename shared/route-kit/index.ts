/**
 * The one place where an API Gateway WebSocket event becomes a validated frame and a result becomes the
 * reply frame of a two-way route. Every route handler is built with {@link createActionHandler}, typed
 * from the action table (shared/protocol/actions.ts).
 *
 * - frames: who sent an event (and until when its token holds), how its frame parses and validates,
 *   the reply frame
 * - deadline: each route's time budget, and `busy` when it runs out
 * - flooding: the frame rate of a connection, and closing one that keeps sending while refused or whose
 *   token expired
 * - budget: the per-user budget of each frame's cost class, across execution environments
 * - handler: the route handler itself, and its error policy
 */
export { OUT_OF_TIME_RETRY_MS } from '../errors';
export { type UserBudget, userBudgetOf } from './budget';
export { type InvocationContext, REPLY_MARGIN_MS } from './deadline';
export { type CloseFn, CONNECTION_FRAME_RATE, managementApiDisconnector } from './flooding';
export {
  type AuthorizerContext,
  errorFrame,
  parseFrame,
  type RouteEvent,
  type RouteResult,
  tokenExpiryOf,
  userIdOf,
  validate,
} from './frames';
export {
  type ActionHandler,
  type ActionRoute,
  type ActionRoutes,
  type Caller,
  createActionHandler,
  type FunctionKitDeps,
  type RouteKitDeps,
  routeKitOf,
} from './handler';
