import {
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
  type ApiGatewayManagementApiClient as Sdk,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { describe, expect, it, vi } from 'vitest';
import {
  delay,
  type FakeRoute,
  fakeRoute,
  managementClient,
  openClient,
  startTestApi,
  type TestClient,
} from './apigw-harness';

const AWS_ID = /^[A-Za-z0-9]{15}=$/;

/** An emulator with recording $connect/$disconnect routes and one client connected to it. */
async function connectedClient(
  options: { idleTimeoutMs?: number; maxConnectionMs?: number; routes?: object } = {},
) {
  const connect = fakeRoute();
  const disconnect = fakeRoute();
  const api = await startTestApi({
    ...options,
    routes: { $connect: connect.route, $disconnect: disconnect.route, ...options.routes },
  });
  const client = await openClient(api.url, { 'User-Agent': 'mgmt-test' });
  const connectionId = connect.events[0]?.requestContext.connectionId ?? '';
  return { api, client, connectionId, connect, disconnect };
}

function disconnectCodes(disconnect: FakeRoute): (number | undefined)[] {
  return disconnect.events.map((event) => event.requestContext.disconnectStatusCode);
}

async function expectOpen(client: TestClient): Promise<void> {
  expect(client.ws.readyState).toBe(client.ws.OPEN);
}

describe('the management API with the real SDK client', () => {
  it('delivers PostToConnection data to the client as one text frame', async () => {
    // Prepare
    const { api, client, connectionId } = await connectedClient();
    const sdk = managementClient(api);

    // Act
    const output = await sdk.send(
      new PostToConnectionCommand({
        ConnectionId: connectionId,
        Data: JSON.stringify({ type: 'message', seq: 1 }),
      }),
    );

    // Assess
    expect(output.$metadata.httpStatusCode).toBe(200);
    await vi.waitFor(() => expect(client.frames).toEqual([JSON.stringify({ type: 'message', seq: 1 })]));
  });

  it('returns connectedAt, lastActiveAt and identity from GetConnection', async () => {
    // Prepare
    const before = Date.now();
    const { api, connectionId, connect } = await connectedClient();
    const sdk = managementClient(api);

    // Act
    const output = await sdk.send(new GetConnectionCommand({ ConnectionId: connectionId }));

    // Assess
    expect(output.ConnectedAt).toBeInstanceOf(Date);
    expect(output.ConnectedAt?.getTime()).toBe(connect.events[0]?.requestContext.connectedAt);
    expect(output.ConnectedAt?.getTime()).toBeGreaterThanOrEqual(before);
    expect(output.LastActiveAt?.getTime()).toBeGreaterThanOrEqual(output.ConnectedAt?.getTime() ?? Infinity);
    expect(output.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'mgmt-test' });
  });

  it('advances lastActiveAt when the client sends a frame', async () => {
    // Prepare: the route answers only after 20 ms, so the frame is sent at a later millisecond than connectedAt.
    const slow = fakeRoute(async () => {
      await delay(20);
      return { statusCode: 200, body: 'ok' };
    });
    const { api, client, connectionId } = await connectedClient({ routes: { slow: slow.route } });
    const sdk = managementClient(api);
    const first = await sdk.send(new GetConnectionCommand({ ConnectionId: connectionId }));
    client.ws.send(JSON.stringify({ action: 'slow' }));
    await vi.waitFor(() => expect(client.frames).toEqual(['ok']));

    // Act
    const second = await sdk.send(new GetConnectionCommand({ ConnectionId: connectionId }));

    // Assess
    expect(second.LastActiveAt?.getTime()).toBeGreaterThan(first.LastActiveAt?.getTime() ?? Infinity);
    expect(second.ConnectedAt).toEqual(first.ConnectedAt);
  });

  it('closes the socket on DeleteConnection and runs $disconnect', async () => {
    // Prepare
    const { api, client, connectionId, disconnect } = await connectedClient();
    const sdk = managementClient(api);

    // Act
    const output = await sdk.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    const postAfterDelete = await sdk
      .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'too late' }))
      .catch((err: unknown) => err);

    // Assess
    expect(output.$metadata.httpStatusCode).toBe(204);
    expect(postAfterDelete).toBeInstanceOf(GoneException);
    expect(client.frames).toEqual([]);
    expect((await client.closed).code).toBe(1000);
    await vi.waitFor(() => expect(disconnect.events).toHaveLength(1));
    expect(disconnect.events[0]?.requestContext.connectionId).toBe(connectionId);
    expect(api.connectionIds()).toEqual([]);
    await expect(sdk.send(new GetConnectionCommand({ ConnectionId: connectionId }))).rejects.toBeInstanceOf(
      GoneException,
    );
  });

  it.each([
    {
      name: 'PostToConnection',
      call: (sdk: Sdk, id: string) => sdk.send(new PostToConnectionCommand({ ConnectionId: id, Data: 'x' })),
    },
    {
      name: 'GetConnection',
      call: (sdk: Sdk, id: string) => sdk.send(new GetConnectionCommand({ ConnectionId: id })),
    },
    {
      name: 'DeleteConnection',
      call: (sdk: Sdk, id: string) => sdk.send(new DeleteConnectionCommand({ ConnectionId: id })),
    },
  ])('throws GoneException with status 410 from $name for an unknown connection', async ({ call }) => {
    // Prepare: an id of the right shape that was never connected, next to a live connection.
    const { api, connectionId } = await connectedClient();
    const sdk = managementClient(api);
    const unknownId = connectionId === 'L0SM9cOFvHcCIhw=' ? 'M0SM9cOFvHcCIhw=' : 'L0SM9cOFvHcCIhw=';

    // Act
    const error = await call(sdk, unknownId).catch((err: unknown) => err);

    // Assess
    expect(error).toBeInstanceOf(GoneException);
    expect((error as GoneException).$metadata.httpStatusCode).toBe(410);
    expect((error as GoneException).$metadata.requestId).toMatch(AWS_ID);
  });

  it('answers a POST over 128 KB with 413 PayloadTooLargeException and sends nothing', async () => {
    // Prepare
    const { api, client, connectionId } = await connectedClient();
    const sdk = managementClient(api);

    // Act
    const error = await sdk
      .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'x'.repeat(128 * 1024 + 1) }))
      .catch((err: unknown) => err);
    await sdk.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'x'.repeat(128 * 1024) }));

    // Assess
    expect(error).toBeInstanceOf(PayloadTooLargeException);
    expect((error as PayloadTooLargeException).$metadata.httpStatusCode).toBe(413);
    await vi.waitFor(() => expect(client.frames).toHaveLength(1));
    expect(client.frames[0]).toHaveLength(128 * 1024);
  });
});

describe('management responses on the wire', () => {
  async function call(url: string, method: string, body?: string) {
    const res = await fetch(url, { method, body });
    return { status: res.status, headers: res.headers, body: await res.text() };
  }

  it.each(['POST', 'GET', 'DELETE'])(
    'answers %s to a gone connection with 410, an empty body, GoneException and a request id',
    async (method) => {
      // Prepare
      const { api } = await connectedClient();
      const url = `${api.managementEndpoint}/@connections/${encodeURIComponent('L0SM9cOFvHcCIhw=')}`;

      // Act
      const res = await call(url, method, method === 'POST' ? 'x' : undefined);

      // Assess
      expect(res.status).toBe(410);
      expect(res.body).toBe('');
      expect(res.headers.get('content-length')).toBe('0');
      expect(res.headers.get('x-amzn-errortype')).toBe('GoneException');
      expect(res.headers.get('x-amzn-requestid')).toMatch(AWS_ID);
    },
  );

  it('puts a fresh x-amzn-RequestId on every response, success or error', async () => {
    // Prepare
    const { api, connectionId } = await connectedClient();
    const url = `${api.managementEndpoint}/@connections/${encodeURIComponent(connectionId)}`;

    // Act
    const responses = [
      await call(url, 'POST', 'hello'),
      await call(url, 'GET'),
      await call(url, 'POST', 'x'.repeat(128 * 1024 + 1)),
      await call(url, 'PATCH'),
      await call(`${api.managementEndpoint}/elsewhere`, 'GET'),
      await call(url, 'DELETE'),
    ];

    // Assess
    expect(responses.map((res) => res.status)).toEqual([200, 200, 413, 403, 403, 204]);
    const ids = responses.map((res) => res.headers.get('x-amzn-requestid'));
    for (const id of ids) expect(id).toMatch(AWS_ID);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('test hooks', () => {
  it('makes POSTs answer the injected status until the injection is cleared', async () => {
    // Prepare
    const { api, client, connectionId } = await connectedClient();
    const sdk = managementClient(api);
    api.injectPostFailure(connectionId, 500);

    // Act
    const failed = await sdk
      .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'lost' }))
      .catch((err: unknown) => err as { $metadata: { httpStatusCode?: number } });
    api.injectPostFailure(connectionId, undefined);
    await sdk.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'kept' }));

    // Assess
    expect(failed.$metadata.httpStatusCode).toBe(500);
    await vi.waitFor(() => expect(client.frames).toEqual(['kept']));
  });

  it('drops a connection without running $disconnect', async () => {
    // Prepare
    const { api, client, connectionId, disconnect } = await connectedClient();
    const other = await openClient(api.url);

    // Act
    api.dropConnection(connectionId);
    const seen = await client.closed;
    await api.close();

    // Assess: close() ran $disconnect for the other client only.
    expect(seen.code).toBe(1006);
    expect(disconnect.events).toHaveLength(1);
    expect(disconnect.events[0]?.requestContext.connectionId).not.toBe(connectionId);
    expect((await other.closed).code).toBe(1001);
  });
});

describe('size limits', () => {
  it('closes the socket with 1009 when a client frame exceeds 32 KB, without invoking a route', async () => {
    // Prepare
    const fallback = fakeRoute();
    const { client, disconnect } = await connectedClient({ routes: { $default: fallback.route } });

    // Act
    client.ws.send('x'.repeat(32 * 1024 + 1));

    // Assess
    expect((await client.closed).code).toBe(1009);
    await vi.waitFor(() => expect(disconnectCodes(disconnect)).toEqual([1009]));
    expect(fallback.events).toHaveLength(0);
  });

  it('accepts a frame of exactly 32 KB', async () => {
    // Prepare
    const fallback = fakeRoute();
    const { client } = await connectedClient({ routes: { $default: fallback.route } });

    // Act
    client.ws.send('x'.repeat(32 * 1024));

    // Assess
    await vi.waitFor(() => expect(fallback.events).toHaveLength(1));
    await expectOpen(client);
  });

  it('closes the socket with 1009 when a message exceeds 128 KB', async () => {
    // Prepare
    const { client, disconnect } = await connectedClient();

    // Act
    client.ws.send('x'.repeat(128 * 1024 + 1));

    // Assess
    expect((await client.closed).code).toBe(1009);
    await vi.waitFor(() => expect(disconnectCodes(disconnect)).toEqual([1009]));
  });

  it('accepts a 100 KB message sent as four 25 KB frames and routes it as one message', async () => {
    // Prepare
    const big = fakeRoute();
    const { client } = await connectedClient({ routes: { big: big.route } });
    const head = '{"action":"big","pad":"';
    const message = `${head}${'x'.repeat(100 * 1024 - head.length - 2)}"}`;
    const frames = [0, 1, 2, 3].map((n) => message.slice(n * 25 * 1024, (n + 1) * 25 * 1024));

    // Act
    frames.forEach((frame, n) => {
      client.ws.send(frame, { fin: n === frames.length - 1 });
    });

    // Assess
    await vi.waitFor(() => expect(big.events).toHaveLength(1));
    expect(big.events[0]?.body).toBe(message);
    expect(message).toHaveLength(100 * 1024);
    await expectOpen(client);
  });

  it.each([
    { name: 'a single 40 KB frame', sizes: [40] },
    { name: 'a 40 KB frame between 10 KB frames of one message', sizes: [10, 40, 10] },
    { name: 'a 130 KB message in five 26 KB frames', sizes: [26, 26, 26, 26, 26] },
  ])('closes the socket with 1009 on $name, without invoking a route', async ({ sizes }) => {
    // Prepare
    const fallback = fakeRoute();
    const { client, disconnect } = await connectedClient({ routes: { $default: fallback.route } });

    // Act
    sizes.forEach((size, n) => {
      client.ws.send('x'.repeat(size * 1024), { fin: n === sizes.length - 1 });
    });

    // Assess
    expect((await client.closed).code).toBe(1009);
    await vi.waitFor(() => expect(disconnectCodes(disconnect)).toEqual([1009]));
    expect(fallback.events).toHaveLength(0);
  });

  it('closes the socket with 1003 on a binary frame, as API Gateway does', async () => {
    // Prepare
    const { client, disconnect } = await connectedClient();

    // Act
    client.ws.send(Buffer.from([1, 2, 3]), { binary: true });

    // Assess
    expect((await client.closed).code).toBe(1003);
    await vi.waitFor(() => expect(disconnectCodes(disconnect)).toEqual([1003]));
  });
});

describe('connection timeouts', () => {
  it('closes an idle connection with 1001 and runs $disconnect', async () => {
    // Prepare
    const { client, disconnect, api } = await connectedClient({ idleTimeoutMs: 200 });

    // Act
    const seen = await client.closed;

    // Assess
    expect(seen.code).toBe(1001);
    await vi.waitFor(() => expect(disconnectCodes(disconnect)).toEqual([1001]));
    expect(disconnect.events[0]?.requestContext.disconnectReason).toBe('Going away');
    expect(api.connectionIds()).toEqual([]);
  });

  it('keeps a connection open while the client keeps sending frames', async () => {
    // Prepare: each frame takes the route 100 ms, and the route sends no reply frame.
    const slow = fakeRoute(async () => {
      await delay(100);
      return { statusCode: 200 };
    }, false);
    const { client } = await connectedClient({ idleTimeoutMs: 250, routes: { slow: slow.route } });
    const started = Date.now();

    // Act: five frames, each sent after the previous one finished: about 500 ms, twice the idle timeout.
    for (let n = 1; n <= 5; n++) {
      client.ws.send(JSON.stringify({ action: 'slow', n }));
      await vi.waitFor(() => expect(slow.finished()).toBe(n));
    }

    // Assess
    expect(Date.now() - started).toBeGreaterThan(250);
    await expectOpen(client);
    expect((await client.closed).code).toBe(1001);
  });

  it('keeps a connection open while the server keeps posting to it', async () => {
    // Prepare: a backend route that posts to its caller every 100 ms, five times.
    let post: (data: string) => Promise<unknown> = async () => undefined;
    const pusher = fakeRoute(async () => {
      for (let n = 1; n <= 5; n++) {
        await delay(100);
        await post(`push ${n}`);
      }
      return { statusCode: 200 };
    }, false);
    const { api, client, connectionId } = await connectedClient({
      idleTimeoutMs: 250,
      routes: { push: pusher.route },
    });
    const sdk = managementClient(api);
    post = (data) => sdk.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));

    // Act
    client.ws.send(JSON.stringify({ action: 'push' }));
    await vi.waitFor(() => expect(client.frames).toHaveLength(5), { timeout: 3000 });

    // Assess: 500 ms after the only client frame, the pushes kept it open; then it idles out.
    await expectOpen(client);
    expect((await client.closed).code).toBe(1001);
  });

  it('closes a connection with 1001 at the maximum duration even while it is active', async () => {
    // Prepare
    const fallback = fakeRoute(() => ({ statusCode: 200, body: 'pong' }));
    const { client, disconnect } = await connectedClient({
      idleTimeoutMs: 60_000,
      maxConnectionMs: 300,
      routes: { $default: fallback.route },
    });

    // Act: keep sending until the socket closes.
    const pinger = setInterval(() => {
      if (client.ws.readyState === client.ws.OPEN) client.ws.send('ping');
    }, 50);
    const seen = await client.closed.finally(() => clearInterval(pinger));

    // Assess
    expect(seen.code).toBe(1001);
    expect(fallback.events.length).toBeGreaterThan(1);
    await vi.waitFor(() => expect(disconnectCodes(disconnect)).toEqual([1001]));
  });
});

describe('close()', () => {
  it('closes every socket, runs $disconnect for each and frees the port', async () => {
    // Prepare
    const { api, client, disconnect } = await connectedClient();
    const second = await openClient(api.url);

    // Act
    await api.close();

    // Assess
    expect((await client.closed).code).toBe(1001);
    expect((await second.closed).code).toBe(1001);
    expect(disconnectCodes(disconnect)).toEqual([1001, 1001]);
    await expect(openClient(api.url)).rejects.toThrow(/ECONNREFUSED/);
  });
});
