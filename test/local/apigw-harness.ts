/**
 * Shared fixtures of the API Gateway emulator tests: fake route invokers that record the events they
 * get, real `ws` clients, and emulators that are closed after each test.
 */
import type { IncomingMessage } from 'node:http';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { afterEach } from 'vitest';
import WebSocket from 'ws';
import { startWebSocketApi, type WebSocketApi, type WebSocketApiOptions } from '../../local/apigw/server';

/** The event fields the tests look at, as API Gateway documents them. */
export interface TestEvent {
  type?: string;
  methodArn?: string;
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  queryStringParameters?: Record<string, string>;
  multiValueQueryStringParameters?: Record<string, string[]>;
  stageVariables?: Record<string, string>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: {
    routeKey: string;
    eventType: string;
    connectionId: string;
    connectedAt: number;
    domainName: string;
    stage: string;
    apiId: string;
    requestId: string;
    extendedRequestId: string;
    requestTime: string;
    requestTimeEpoch: number;
    messageDirection: string;
    /** A string on MESSAGE events, null on CONNECT and DISCONNECT. */
    messageId?: string | null;
    identity: { sourceIp: string; userAgent: string };
    disconnectStatusCode?: number;
    disconnectReason?: string;
    authorizer?: Record<string, unknown>;
  };
}

export interface FakeRoute {
  events: TestEvent[];
  /** How many invocations have returned or thrown. */
  finished: () => number;
  route: { invoke: (event: unknown) => Promise<unknown>; twoWay: boolean };
}

/** A route whose invoker records each event and answers with `answer(event)`. */
export function fakeRoute(
  answer: (event: TestEvent) => unknown = () => ({ statusCode: 200 }),
  twoWay = true,
): FakeRoute {
  const events: TestEvent[] = [];
  let finished = 0;
  return {
    events,
    finished: () => finished,
    route: {
      invoke: async (event: unknown) => {
        events.push(event as TestEvent);
        try {
          return await answer(event as TestEvent);
        } finally {
          finished += 1;
        }
      },
      twoWay,
    },
  };
}

/** A two-way route replying with its own name and the frame it got, so a test sees which route ran. */
export function echoRoute(name: string): FakeRoute {
  return fakeRoute((event) => ({ statusCode: 200, body: JSON.stringify({ route: name, got: event.body }) }));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const apis: WebSocketApi[] = [];
const sdkClients: ApiGatewayManagementApiClient[] = [];

afterEach(async () => {
  for (const client of sdkClients.splice(0)) client.destroy();
  await Promise.all(apis.splice(0).map((api) => api.close()));
});

/** Starts an emulator on a free port; it is closed after the test. */
export async function startTestApi(options: WebSocketApiOptions): Promise<WebSocketApi> {
  const api = await startWebSocketApi(options);
  apis.push(api);
  return api;
}

/** The real management SDK client pointed at the emulator; destroyed after the test. */
export function managementClient(api: WebSocketApi): ApiGatewayManagementApiClient {
  const client = new ApiGatewayManagementApiClient({
    endpoint: api.managementEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  sdkClients.push(client);
  return client;
}

export interface TestClient {
  ws: WebSocket;
  /** Text frames received, in order. */
  frames: string[];
  /** Resolves with the close code and reason the client saw. */
  closed: Promise<{ code: number; reason: string }>;
  /** The headers of the 101 response. */
  handshakeHeaders: IncomingMessage['headers'];
}

/**
 * Opens a real WebSocket client and resolves once the handshake succeeded; rejects with the `ws`
 * client's error when it did not. `protocols` are offered in `Sec-WebSocket-Protocol`.
 */
export function openClient(
  url: string,
  headers: Record<string, string> = {},
  protocols: string[] = [],
): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    const frames: string[] = [];
    let handshakeHeaders: IncomingMessage['headers'] = {};
    const closed = new Promise<{ code: number; reason: string }>((resolveClose) => {
      ws.on('close', (code, reason) => resolveClose({ code, reason: reason.toString('utf8') }));
    });
    ws.on('upgrade', (res) => {
      handshakeHeaders = res.headers;
    });
    ws.on('message', (data) => frames.push(data.toString()));
    ws.on('error', reject);
    ws.on('open', () => resolve({ ws, frames, closed, handshakeHeaders }));
  });
}

/** Attempts a handshake that should be refused and resolves with the HTTP status and body. */
export function refusal(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      ws.close();
      reject(new Error('The handshake was accepted'));
    });
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
  });
}
