import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_WIRING, localRoutes } from '../../local/runtime';
import {
  echoRoute,
  type FakeRoute,
  fakeRoute,
  openClient,
  refusal,
  startTestApi,
  type TestEvent,
} from './apigw-harness';

const AWS_ID = /^[A-Za-z0-9]{15}=$/;

function allowPolicy(principalId: string, resource: string, context: Record<string, unknown> = {}) {
  return {
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: resource }],
    },
    context,
  };
}

function lastEvent(route: FakeRoute): TestEvent {
  const event = route.events.at(-1);
  if (event === undefined) throw new Error('The route was not invoked');
  return event;
}

describe('route selection on $request.body.action', () => {
  it('invokes the route the action names and falls back to $default for unknown actions and non-JSON', async () => {
    // Prepare
    const send = echoRoute('send');
    const fallback = echoRoute('$default');
    const api = await startTestApi({ routes: { send: send.route, $default: fallback.route } });
    const client = await openClient(api.url);

    // Act
    client.ws.send(JSON.stringify({ action: 'send', n: 1 }));
    await vi.waitFor(() => expect(client.frames).toHaveLength(1));
    client.ws.send(JSON.stringify({ action: 'nope' }));
    await vi.waitFor(() => expect(client.frames).toHaveLength(2));
    client.ws.send('not json');
    await vi.waitFor(() => expect(client.frames).toHaveLength(3));
    client.ws.send(JSON.stringify({ action: 42 }));
    await vi.waitFor(() => expect(client.frames).toHaveLength(4));
    client.ws.send(JSON.stringify({ action: 'toString' }));
    await vi.waitFor(() => expect(client.frames).toHaveLength(5));

    // Assess
    expect(client.frames.map((frame) => JSON.parse(frame).route)).toEqual([
      'send',
      '$default',
      '$default',
      '$default',
      '$default',
    ]);
    expect(send.events.map((event) => event.body)).toEqual([JSON.stringify({ action: 'send', n: 1 })]);
    expect(fallback.events).toHaveLength(4);
    expect(fallback.events.every((event) => event.requestContext.routeKey === '$default')).toBe(true);
  });

  it('answers Forbidden with the connection and request ids when no route matches and there is no $default', async () => {
    // Prepare
    const connect = fakeRoute();
    const send = echoRoute('send');
    const api = await startTestApi({ routes: { $connect: connect.route, send: send.route } });
    const client = await openClient(api.url);

    // Act
    client.ws.send(JSON.stringify({ action: 'unknown' }));
    await vi.waitFor(() => expect(client.frames).toHaveLength(1));

    // Assess
    const frame = JSON.parse(client.frames[0] ?? '');
    expect(frame).toEqual({
      message: 'Forbidden',
      connectionId: lastEvent(connect).requestContext.connectionId,
      requestId: expect.stringMatching(AWS_ID),
    });
    expect(send.events).toHaveLength(0);
  });

  it('does not let a client select a reserved $ route by name', async () => {
    // Prepare
    const connect = fakeRoute();
    const fallback = echoRoute('$default');
    const api = await startTestApi({ routes: { $connect: connect.route, $default: fallback.route } });
    const client = await openClient(api.url);

    // Act
    client.ws.send(JSON.stringify({ action: '$connect' }));
    await vi.waitFor(() => expect(client.frames).toHaveLength(1));

    // Assess
    expect(JSON.parse(client.frames[0] ?? '').route).toBe('$default');
    expect(connect.events).toHaveLength(1);
  });
});

describe('route responses', () => {
  it('sends the body of a two-way route to the client and nothing for a one-way route', async () => {
    // Prepare
    const oneWay = fakeRoute(() => ({ statusCode: 200, body: 'must not be sent' }), false);
    const twoWay = fakeRoute(() => ({ statusCode: 200, body: 'reply' }), true);
    const api = await startTestApi({ routes: { quiet: oneWay.route, loud: twoWay.route } });
    const client = await openClient(api.url);

    // Act
    client.ws.send(JSON.stringify({ action: 'quiet' }));
    await vi.waitFor(() => expect(oneWay.events).toHaveLength(1));
    client.ws.send(JSON.stringify({ action: 'loud' }));
    await vi.waitFor(() => expect(client.frames.length).toBeGreaterThan(0));

    // Assess: had the one-way body been sent, it would have arrived before the two-way reply.
    expect(client.frames).toEqual(['reply']);
  });

  it('sends nothing back for a route the wiring makes one-way, and the reply of a two-way one', async () => {
    // Prepare: the local runtime's route table for a wiring with one route of each kind on one function.
    const invoked: string[] = [];
    const routes = localRoutes(
      {
        ...DEFAULT_WIRING,
        routes: { notify: { function: 'handler', routeResponse: false }, ping: 'handler' },
      },
      {
        invoker: (name, routeKey) => async () => {
          invoked.push(`${name}:${routeKey}`);
          return { statusCode: 200, body: `reply from ${routeKey}` };
        },
      },
    );
    const api = await startTestApi({ routes });
    const client = await openClient(api.url);

    // Act
    client.ws.send(JSON.stringify({ action: 'notify' }));
    await vi.waitFor(() => expect(invoked).toEqual(['handler:notify']));
    client.ws.send(JSON.stringify({ action: 'ping' }));
    await vi.waitFor(() => expect(client.frames.length).toBeGreaterThan(0));

    // Assess: had the one-way result been sent, it would have arrived before the two-way reply.
    expect(client.frames).toEqual(['reply from ping']);
    expect(invoked).toEqual(['handler:notify', 'handler:ping']);
  });

  it('sends Internal server error with the request id when the integration throws', async () => {
    // Prepare
    const failing = fakeRoute(() => {
      throw new Error('boom');
    });
    const api = await startTestApi({ routes: { fail: failing.route } });
    const client = await openClient(api.url);

    // Act
    client.ws.send(JSON.stringify({ action: 'fail' }));
    await vi.waitFor(() => expect(client.frames).toHaveLength(1));

    // Assess
    const event = lastEvent(failing);
    expect(JSON.parse(client.frames[0] ?? '')).toEqual({
      message: 'Internal server error',
      connectionId: event.requestContext.connectionId,
      requestId: event.requestContext.requestId,
    });
  });

  it('runs frames of one connection concurrently and replies to the connection that sent each frame', async () => {
    // Prepare: the route holds every invocation until the test releases it.
    const releases: (() => void)[] = [];
    const slow = fakeRoute(
      (event) =>
        new Promise((resolve) => {
          releases.push(() => resolve({ statusCode: 200, body: `re:${event.body}` }));
        }),
    );
    const api = await startTestApi({ routes: { slow: slow.route } });
    const alice = await openClient(api.url);
    const bob = await openClient(api.url);

    // Act
    alice.ws.send(JSON.stringify({ action: 'slow', from: 'alice', n: 1 }));
    alice.ws.send(JSON.stringify({ action: 'slow', from: 'alice', n: 2 }));
    bob.ws.send(JSON.stringify({ action: 'slow', from: 'bob', n: 1 }));

    // Assess: all three run at once, none waits for an earlier one to finish.
    await vi.waitFor(() => expect(slow.events).toHaveLength(3));
    for (const release of releases.reverse()) release();
    await vi.waitFor(() => expect(alice.frames).toHaveLength(2));
    await vi.waitFor(() => expect(bob.frames).toHaveLength(1));
    expect(alice.frames.every((frame) => frame.includes('"from":"alice"'))).toBe(true);
    expect(bob.frames).toEqual([`re:${JSON.stringify({ action: 'slow', from: 'bob', n: 1 })}`]);
  });
});

describe('the $connect authorizer', () => {
  const TOKEN_SOURCE = ['route.request.querystring.token'];

  it('refuses with 401 without invoking the authorizer when the token query parameter is missing', async () => {
    // Prepare
    const authorizer = fakeRoute(() => allowPolicy('alice', '*'));
    const connect = fakeRoute();
    const api = await startTestApi({
      routes: { $connect: connect.route },
      authorizer: { invoke: authorizer.route.invoke, identitySource: TOKEN_SOURCE },
    });

    // Act
    const withoutToken = await refusal(api.url);
    const emptyToken = await refusal(`${api.url}?token=`);

    // Assess
    expect(withoutToken.status).toBe(401);
    expect(emptyToken.status).toBe(401);
    expect(authorizer.events).toHaveLength(0);
    expect(connect.events).toHaveLength(0);
  });

  it.each([
    {
      name: 'throwing Unauthorized',
      answer: () => {
        throw new Error('Unauthorized');
      },
      status: 401,
    },
    { name: 'returning a Deny policy', answer: () => denyPolicy(), status: 403 },
    {
      name: 'allowing a different resource',
      answer: () => allowPolicy('alice', 'arn:aws:execute-api:us-east-1:000000000000:other/local/$connect'),
      status: 403,
    },
    {
      name: 'throwing any other error',
      answer: () => {
        throw new Error('JWKS unreachable');
      },
      status: 500,
    },
    { name: 'returning no principalId', answer: () => ({ policyDocument: {} }), status: 500 },
  ])('refuses the handshake with $status when the authorizer is $name', async ({ answer, status }) => {
    // Prepare
    const authorizer = fakeRoute(answer);
    const connect = fakeRoute();
    const api = await startTestApi({
      routes: { $connect: connect.route },
      authorizer: { invoke: authorizer.route.invoke, identitySource: TOKEN_SOURCE },
    });

    // Act
    const refused = await refusal(`${api.url}?token=abc`);

    // Assess
    expect(refused.status).toBe(status);
    expect(authorizer.events).toHaveLength(1);
    expect(connect.events).toHaveLength(0);
    expect(api.connectionIds()).toEqual([]);
  });

  it('passes a REQUEST event with the $connect methodArn, headers and query to the authorizer', async () => {
    // Prepare
    const authorizer = fakeRoute((event) => allowPolicy('alice', event.methodArn ?? ''));
    const api = await startTestApi({
      apiId: 'abc123',
      stage: 'dev',
      routes: {},
      authorizer: { invoke: authorizer.route.invoke, identitySource: TOKEN_SOURCE },
    });

    // Act
    const client = await openClient(`${api.url}?token=t1&tag=a&tag=b`, { 'X-Custom': 'yes' });
    client.ws.close();

    // Assess
    const event = lastEvent(authorizer);
    expect(event).toMatchObject({
      type: 'REQUEST',
      methodArn: 'arn:aws:execute-api:us-east-1:000000000000:abc123/dev/$connect',
      queryStringParameters: { token: 't1', tag: 'b' },
      multiValueQueryStringParameters: { token: ['t1'], tag: ['a', 'b'] },
      stageVariables: {},
      requestContext: { routeKey: '$connect', eventType: 'CONNECT', stage: 'dev', apiId: 'abc123' },
    });
    expect(event.headers?.['X-Custom']).toBe('yes');
    expect(event.multiValueHeaders?.['X-Custom']).toEqual(['yes']);
    expect(event.requestContext.authorizer).toBeUndefined();
  });

  it('accepts an Allow policy whose Resource matches the methodArn through wildcards', async () => {
    // Prepare
    const authorizer = fakeRoute(() => allowPolicy('alice', 'arn:aws:execute-api:*:*:local/*/$connect'));
    const api = await startTestApi({
      routes: {},
      authorizer: { invoke: authorizer.route.invoke, identitySource: TOKEN_SOURCE },
    });

    // Act
    const client = await openClient(`${api.url}?token=abc`);

    // Assess
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    expect(api.connectionIds()).toHaveLength(1);
  });

  it('puts principalId and the stringified context in requestContext.authorizer of $connect, every message and $disconnect', async () => {
    // Prepare
    const authorizer = fakeRoute((event) =>
      allowPolicy('alice', event.methodArn ?? '', { userId: 'alice', n: 7 }),
    );
    const connect = fakeRoute();
    const send = fakeRoute();
    const fallback = fakeRoute();
    const disconnect = fakeRoute();
    const api = await startTestApi({
      routes: {
        $connect: connect.route,
        send: send.route,
        $default: fallback.route,
        $disconnect: disconnect.route,
      },
      authorizer: { invoke: authorizer.route.invoke, identitySource: TOKEN_SOURCE },
    });
    const client = await openClient(`${api.url}?token=abc`);

    // Act
    client.ws.send(JSON.stringify({ action: 'send' }));
    client.ws.send('other');
    await vi.waitFor(() => expect(send.events.length + fallback.events.length).toBe(2));
    client.ws.close();
    await vi.waitFor(() => expect(disconnect.events).toHaveLength(1));

    // Assess
    const expected = expect.objectContaining({ userId: 'alice', n: '7', principalId: 'alice' });
    for (const event of [...connect.events, ...send.events, ...fallback.events, ...disconnect.events]) {
      expect(event.requestContext.authorizer).toEqual(expected);
    }
  });
});

function denyPolicy() {
  return {
    principalId: 'mallory',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: '*' }],
    },
  };
}

describe('the $connect route', () => {
  it('refuses the handshake with the status of a non-2xx result and registers no connection', async () => {
    // Prepare
    const connect = fakeRoute(() => ({ statusCode: 403, body: 'no' }));
    const disconnect = fakeRoute();
    const api = await startTestApi({ routes: { $connect: connect.route, $disconnect: disconnect.route } });

    // Act
    const refused = await refusal(api.url);

    // Assess
    expect(refused.status).toBe(403);
    expect(connect.events).toHaveLength(1);
    expect(api.connectionIds()).toEqual([]);
  });

  it('refuses the handshake with 500 when $connect throws', async () => {
    // Prepare
    const connect = fakeRoute(() => {
      throw new Error('table missing');
    });
    const api = await startTestApi({ routes: { $connect: connect.route } });

    // Act
    const refused = await refusal(api.url);

    // Assess
    expect(refused.status).toBe(500);
    expect(api.connectionIds()).toEqual([]);
  });

  it('selects the subprotocol the $connect result names, not the first one the client offers', async () => {
    // Prepare: the header name in any spelling, as API Gateway matches it.
    const connect = fakeRoute(() => ({ statusCode: 200, headers: { 'sec-websocket-protocol': 'chat' } }));
    const api = await startTestApi({ routes: { $connect: connect.route } });

    // Act
    const client = await openClient(api.url, {}, ['mqtt', 'chat']);

    // Assess
    expect(client.ws.protocol).toBe('chat');
    expect(client.handshakeHeaders['sec-websocket-protocol']).toBe('chat');
    expect(connect.events[0]?.headers?.['Sec-WebSocket-Protocol']).toBe('mqtt,chat');
  });

  it('selects no subprotocol when $connect returns none, so a ws client that offered one fails the handshake', async () => {
    // Prepare
    const connect = fakeRoute(() => ({ statusCode: 200 }));
    const disconnect = fakeRoute();
    const api = await startTestApi({ routes: { $connect: connect.route, $disconnect: disconnect.route } });

    // Act
    const failed = await openClient(api.url, {}, ['chat']).catch((err: unknown) => err);

    // Assess: the 101 went out, then the client dropped the socket, so $disconnect runs with 1006.
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toBe('Server sent no subprotocol');
    await vi.waitFor(() => expect(disconnect.events).toHaveLength(1));
    expect(disconnect.events[0]?.requestContext.disconnectStatusCode).toBe(1006);
  });

  it('sends the other headers of the $connect result in the 101 response, except those of the handshake', async () => {
    // Prepare
    const connect = fakeRoute(() => ({
      statusCode: 200,
      headers: {
        'X-Chat-Version': '2',
        'X-Count': 3,
        Connection: 'close',
        'Sec-WebSocket-Accept': 'forged',
        'X-Injected': 'a\r\nX-Evil: 1',
      },
    }));
    const api = await startTestApi({ routes: { $connect: connect.route } });

    // Act
    const client = await openClient(api.url);

    // Assess
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    expect(client.ws.protocol).toBe('');
    expect(client.handshakeHeaders).toMatchObject({ 'x-chat-version': '2', 'x-count': '3' });
    expect(client.handshakeHeaders.connection).toBe('Upgrade');
    expect(client.handshakeHeaders['x-injected']).toBeUndefined();
    expect(client.handshakeHeaders['x-evil']).toBeUndefined();
  });

  it('refuses a path other than the stage with 403', async () => {
    // Prepare
    const connect = fakeRoute();
    const api = await startTestApi({ routes: { $connect: connect.route } });

    // Act
    const refused = await refusal(api.url.replace(/\/local$/, '/prod'));

    // Assess
    expect(refused.status).toBe(403);
    expect(connect.events).toHaveLength(0);
  });
});

describe('event requestContext', () => {
  it('carries every field API Gateway sends, with the eventType of each route and messageId null outside MESSAGE', async () => {
    // Prepare
    const connect = fakeRoute();
    const send = fakeRoute();
    const disconnect = fakeRoute();
    const lines: string[] = [];
    const api = await startTestApi({
      apiId: 'api42',
      stage: 'test',
      routes: { $connect: connect.route, send: send.route, $disconnect: disconnect.route },
      onLog: (line) => lines.push(line),
    });
    const before = Date.now();
    const client = await openClient(`${api.url}?token=q`, { 'User-Agent': 'vitest-agent' });

    // Act
    client.ws.send(JSON.stringify({ action: 'send', text: 'hi' }));
    await vi.waitFor(() => expect(send.events).toHaveLength(1));
    client.ws.close(1000, 'bye');
    await vi.waitFor(() => expect(disconnect.events).toHaveLength(1));

    // Assess
    const [connectEvent, messageEvent, disconnectEvent] = [
      lastEvent(connect),
      lastEvent(send),
      lastEvent(disconnect),
    ];
    const { connectionId, connectedAt } = connectEvent.requestContext;
    expect(connectionId).toMatch(AWS_ID);
    expect(connectedAt).toBeGreaterThanOrEqual(before);
    const common = {
      connectionId,
      connectedAt,
      domainName: new URL(api.managementEndpoint).host,
      stage: 'test',
      apiId: 'api42',
      requestId: expect.stringMatching(AWS_ID),
      extendedRequestId: expect.stringMatching(AWS_ID),
      requestTime: expect.stringMatching(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/),
      requestTimeEpoch: expect.any(Number),
      messageDirection: 'IN',
      identity: { sourceIp: '127.0.0.1', userAgent: 'vitest-agent' },
    };
    expect(connectEvent.requestContext).toEqual({
      ...common,
      routeKey: '$connect',
      eventType: 'CONNECT',
      messageId: null,
    });
    expect(connectEvent).toMatchObject({
      queryStringParameters: { token: 'q' },
      multiValueQueryStringParameters: { token: ['q'] },
      isBase64Encoded: false,
    });
    expect(connectEvent.headers?.['User-Agent']).toBe('vitest-agent');
    expect(connectEvent.headers?.['X-Forwarded-For']).toBe('127.0.0.1');
    expect(connectEvent.multiValueHeaders?.['User-Agent']).toEqual(['vitest-agent']);

    expect(messageEvent.requestContext).toEqual({
      ...common,
      routeKey: 'send',
      eventType: 'MESSAGE',
      messageId: expect.stringMatching(AWS_ID),
    });
    expect(messageEvent.body).toBe(JSON.stringify({ action: 'send', text: 'hi' }));
    expect(messageEvent.isBase64Encoded).toBe(false);

    expect(disconnectEvent.requestContext).toEqual({
      ...common,
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      messageId: null,
      disconnectStatusCode: 1000,
      disconnectReason: 'bye',
    });
    expect(
      new Set([connectEvent, messageEvent, disconnectEvent].map((e) => e.requestContext.requestId)).size,
    ).toBe(3);

    expect(lines.some((line) => line.startsWith('CONNECT') && line.includes(connectionId))).toBe(true);
    expect(lines.some((line) => line.startsWith('MESSAGE') && line.includes('send'))).toBe(true);
    expect(lines.some((line) => line.startsWith('DISCONNECT') && line.includes('1000'))).toBe(true);
  });

  it('leaves invocation lines to the invoker when logInvocations is off, still logging closes', async () => {
    // Prepare
    const send = fakeRoute();
    const disconnect = fakeRoute();
    const lines: string[] = [];
    const api = await startTestApi({
      routes: { send: send.route, $disconnect: disconnect.route },
      onLog: (line) => lines.push(line),
      logInvocations: false,
    });
    const client = await openClient(`${api.url}?token=q`);
    // Act
    client.ws.send(JSON.stringify({ action: 'send' }));
    await vi.waitFor(() => expect(send.events).toHaveLength(1));
    client.ws.close(1000, 'bye');
    await vi.waitFor(() => expect(disconnect.events).toHaveLength(1));
    // Assess
    await vi.waitFor(() => expect(lines.some((line) => line.startsWith('DISCONNECT'))).toBe(true));
    expect(lines.filter((line) => line.startsWith('CONNECT') || line.startsWith('MESSAGE'))).toEqual([]);
  });

  it('reports the close code the client sent as disconnectStatusCode', async () => {
    // Prepare
    const disconnect = fakeRoute();
    const api = await startTestApi({ routes: { $disconnect: disconnect.route } });
    const client = await openClient(api.url);

    // Act
    client.ws.close(4001, 'custom');
    await vi.waitFor(() => expect(disconnect.events).toHaveLength(1));

    // Assess
    expect(lastEvent(disconnect).requestContext).toMatchObject({
      disconnectStatusCode: 4001,
      disconnectReason: 'custom',
    });
    expect(api.connectionIds()).toEqual([]);
  });
});
