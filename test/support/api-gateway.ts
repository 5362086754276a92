/**
 * API Gateway WebSocket events as the handlers receive them, for unit tests that call a handler
 * directly: {@link routeEvent} for a frame on a route, {@link lifecycleEvent} for `$connect` and
 * `$disconnect`. Every field API Gateway sets is present (as local/apigw/events.ts builds them for the
 * local runtime), with fixed ids so that a test can assert on them.
 */
import { formatRequestTime } from '../../local/apigw/events';
import type { AuthorizerContext, RouteEvent } from '../../shared/route-kit';

/** When an event is sent unless a test says otherwise. */
export const EVENT_TIME = new Date('2025-03-04T05:06:07.000Z');

/** What API Gateway repeats in every event of a connection. */
export interface ConnectionEventOptions {
  /** @default 'conn-1' */
  connectionId?: string;
  /** The user the `$connect` authorizer vouched for, as `{ principalId: userId }`. @default 'alice' */
  userId?: string;
  /**
   * The whole authorizer context, in place of the one `userId` makes; `null` for a connection that no
   * authorizer vouched for (the context is then absent, as API Gateway leaves it).
   * @default { principalId: userId }
   */
  authorizer?: AuthorizerContext | null;
  /** API Gateway's id of this request, which the route kit passes on as `awsRequestId`. @default 'aws-req-1' */
  requestId?: string;
  /** When API Gateway received the event (`requestTimeEpoch`, `requestTime`). @default EVENT_TIME */
  at?: Date;
  /** When the connection opened. @default `at` */
  connectedAt?: Date;
}

export interface RouteEventOptions extends ConnectionEventOptions {
  /** The frame: a string is sent as is (to send malformed frames), anything else as its JSON. @default none */
  body?: unknown;
  /** @default the frame's `action` if the body is a JSON object with a string one, else `$default` */
  routeKey?: string;
}

/** The `action` API Gateway's route selection expression (`$request.body.action`) reads. */
function actionOf(body: unknown): string | undefined {
  if (typeof body === 'string') {
    try {
      return actionOf(JSON.parse(body));
    } catch {
      return undefined;
    }
  }
  const action: unknown =
    typeof body === 'object' && body !== null && 'action' in body ? body.action : undefined;
  return typeof action === 'string' ? action : undefined;
}

function requestContext(
  eventType: RouteEvent['requestContext']['eventType'],
  routeKey: string,
  options: ConnectionEventOptions,
): RouteEvent['requestContext'] {
  const at = options.at ?? EVENT_TIME;
  const userId = options.userId ?? 'alice';
  const authorizer = options.authorizer === undefined ? { principalId: userId } : options.authorizer;
  const requestId = options.requestId ?? 'aws-req-1';
  const context = {
    routeKey,
    eventType,
    messageId: 'msg-1',
    // API Gateway uses one value for both ids in WebSocket events.
    extendedRequestId: requestId,
    requestTime: formatRequestTime(at.getTime()),
    messageDirection: 'IN' as const,
    stage: 'test',
    connectedAt: (options.connectedAt ?? at).getTime(),
    requestTimeEpoch: at.getTime(),
    identity: { sourceIp: '203.0.113.7', userAgent: 'test-client' },
    requestId,
    domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
    connectionId: options.connectionId ?? 'conn-1',
    apiId: 'abc123',
    ...(authorizer === null ? {} : { authorizer }),
  };
  return context;
}

/**
 * The event of a frame on a message route.
 * @example routeEvent({ body: { action: 'send', conversationId: 'c1', body: 'hi' }, userId: 'bob' })
 */
export function routeEvent(options: RouteEventOptions = {}): RouteEvent {
  const { body } = options;
  const routeKey = options.routeKey ?? actionOf(body) ?? '$default';
  return {
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    isBase64Encoded: false,
    requestContext: requestContext('MESSAGE', routeKey, options),
  };
}

/**
 * The event of the `$connect` or `$disconnect` route. It has no body, and API Gateway sends
 * `messageId: null` on both (the aws-lambda types say string, hence the cast).
 */
export function lifecycleEvent(
  eventType: 'CONNECT' | 'DISCONNECT',
  options: ConnectionEventOptions = {},
): RouteEvent {
  const routeKey = eventType === 'CONNECT' ? '$connect' : '$disconnect';
  const context = { ...requestContext(eventType, routeKey, options), messageId: null as unknown as string };
  const closed = eventType === 'DISCONNECT' ? { disconnectStatusCode: 1000, disconnectReason: '' } : {};
  return { isBase64Encoded: false, requestContext: { ...context, ...closed } };
}
