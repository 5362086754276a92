/**
 * The one place where an API Gateway WebSocket event becomes a validated frame and a result becomes the
 * reply frame of a two-way route. Every route handler is built with {@link createRouteHandler}.
 */
export { type InvocationContext, OUT_OF_TIME_RETRY_MS, REPLY_MARGIN_MS } from './deadline';
export { CONNECTION_FRAME_RATE } from './flooding';
export {
  type AuthorizerContext,
  errorFrame,
  parseFrame,
  type RouteEvent,
  type RouteResult,
  userIdOf,
  validate,
} from './frames';
export { type Caller, createRouteHandler, type RouteDefinition, route } from './handler';
