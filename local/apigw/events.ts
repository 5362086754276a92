/**
 * The Lambda events API Gateway builds for a WebSocket API, field for field: the REQUEST authorizer
 * event, and the `$connect`, message and `$disconnect` proxy events. Shapes follow the AWS developer
 * guide ("Set up WebSocket API integrations", "Lambda REQUEST authorizers for WebSocket APIs") and real
 * events logged by API Gateway.
 */
import type { IncomingMessage } from 'node:http';
import { newAwsId, newTraceId } from './ids';

/** Where the API lives; `region` and `accountId` only appear in the authorizer's `methodArn`. */
export interface ApiInfo {
  apiId: string;
  stage: string;
  /** `host:port` of the emulator, where AWS has `{apiId}.execute-api.{region}.amazonaws.com`. */
  domainName: string;
  region: string;
  accountId: string;
}

/** What API Gateway remembers about a connection and repeats in every event of it. */
export interface ConnectionInfo {
  connectionId: string;
  connectedAt: number;
  sourceIp: string;
  userAgent: string;
  /** `{...context, principalId, integrationLatency}` from the authorizer, when one ran. */
  authorizer?: Record<string, unknown>;
}

/** The parts of the upgrade request that `$connect` events and the authorizer repeat. */
export interface HandshakeRequest {
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  queryStringParameters?: Record<string, string>;
  multiValueQueryStringParameters?: Record<string, string[]>;
}

export type EventType = 'CONNECT' | 'MESSAGE' | 'DISCONNECT';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `requestTime` as API Gateway writes it: `09/Feb/2024:18:11:43 +0000`. */
export function formatRequestTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
  );
}

/** The `methodArn` a `$connect` REQUEST authorizer receives and its policy must allow. */
export function connectMethodArn(api: ApiInfo): string {
  return `arn:aws:execute-api:${api.region}:${api.accountId}:${api.apiId}/${api.stage}/$connect`;
}

function requestContext(
  api: ApiInfo,
  connection: ConnectionInfo,
  routeKey: string,
  eventType: EventType,
  now: number,
  withAuthorizer: boolean,
) {
  // API Gateway uses one value for both ids in WebSocket events.
  const requestId = newAwsId();
  return {
    routeKey,
    eventType,
    extendedRequestId: requestId,
    requestTime: formatRequestTime(now),
    messageDirection: 'IN' as const,
    stage: api.stage,
    connectedAt: connection.connectedAt,
    requestTimeEpoch: now,
    identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
    requestId,
    domainName: api.domainName,
    connectionId: connection.connectionId,
    apiId: api.apiId,
    ...(withAuthorizer && connection.authorizer !== undefined ? { authorizer: connection.authorizer } : {}),
  };
}

/**
 * Headers and query parameters of the upgrade request as API Gateway passes them on: header names keep
 * the client's spelling, the last value of a repeated name wins in the single-value map, and the
 * forwarding headers API Gateway's front end adds are present.
 */
export function handshakeRequest(
  req: IncomingMessage,
  url: URL,
  sourceIp: string,
  now: number,
): HandshakeRequest {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const add = (name: string, value: string) => {
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  };
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    const value = req.rawHeaders[i + 1];
    if (name !== undefined && value !== undefined) add(name, value);
  }
  add('X-Amzn-Trace-Id', newTraceId(now));
  add('X-Forwarded-For', sourceIp);
  add('X-Forwarded-Port', String(req.socket.localPort ?? ''));
  add('X-Forwarded-Proto', 'http');

  const query: Record<string, string> = {};
  const multiValueQuery: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = value;
    multiValueQuery[name] = [...(multiValueQuery[name] ?? []), value];
  }
  // API Gateway leaves the query maps out entirely when the URL has no query string.
  const hasQuery = Object.keys(query).length > 0;
  return {
    headers,
    multiValueHeaders,
    ...(hasQuery ? { queryStringParameters: query, multiValueQueryStringParameters: multiValueQuery } : {}),
  };
}

/** The event of a `$connect` REQUEST authorizer. */
export function authorizerEvent(
  api: ApiInfo,
  connection: ConnectionInfo,
  request: HandshakeRequest,
  now: number,
) {
  return {
    type: 'REQUEST' as const,
    methodArn: connectMethodArn(api),
    headers: request.headers,
    multiValueHeaders: request.multiValueHeaders,
    queryStringParameters: request.queryStringParameters,
    multiValueQueryStringParameters: request.multiValueQueryStringParameters,
    stageVariables: {},
    requestContext: requestContext(api, connection, '$connect', 'CONNECT', now, false),
  };
}

/** The event of the `$connect` route. */
export function connectEvent(
  api: ApiInfo,
  connection: ConnectionInfo,
  request: HandshakeRequest,
  now: number,
) {
  return {
    ...request,
    // API Gateway sends `messageId: null` on CONNECT and DISCONNECT; only MESSAGE events have one.
    requestContext: { ...requestContext(api, connection, '$connect', 'CONNECT', now, true), messageId: null },
    isBase64Encoded: false,
  };
}

/** The event of a message route: the frame's text is the body; binary frames never get this far. */
export function messageEvent(
  api: ApiInfo,
  connection: ConnectionInfo,
  routeKey: string,
  body: string,
  now: number,
) {
  const context = requestContext(api, connection, routeKey, 'MESSAGE', now, true);
  return {
    requestContext: { ...context, messageId: newAwsId() },
    body,
    isBase64Encoded: false,
  };
}

/** The event of the `$disconnect` route; API Gateway sends these fixed headers, not the handshake's. */
export function disconnectEvent(
  api: ApiInfo,
  connection: ConnectionInfo,
  close: { code: number; reason: string },
  now: number,
) {
  const headers = { Host: api.domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' };
  return {
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    requestContext: {
      ...requestContext(api, connection, '$disconnect', 'DISCONNECT', now, true),
      messageId: null,
      disconnectStatusCode: close.code,
      disconnectReason: close.reason,
    },
    isBase64Encoded: false,
  };
}
