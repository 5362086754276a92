/**
 * A local API Gateway WebSocket API: the emulator `npm start` and the end-to-end tests put in front of
 * the real handlers. One HTTP server carries both the WebSocket endpoint `ws://HOST:PORT/{stage}` and
 * the management API `http://HOST:PORT/{stage}/@connections/{id}`.
 *
 * What it reproduces (AWS developer guide, "WebSocket APIs" and "Quotas"): route selection on
 * `$request.body.action` with `$default` fallback; the `$connect` REQUEST authorizer and its 401/403/500
 * answers; `$connect` refusing the handshake on a non-2xx result; the authorizer context on every later
 * event; the `$connect` result's `headers` in the 101 response, its `Sec-WebSocket-Protocol` being
 * the only way a subprotocol is selected; messages of one connection dispatched concurrently, each
 * reply going to its sender; binary frames closing with 1003; the 32 KB frame and 128 KB message
 * limits closing with 1009; the idle timeout and maximum duration closing with 1001; `$disconnect`
 * after every close except a dropped one.
 *
 * The frame limit applies to each frame: `ws` hands over whole messages, reassembled from their
 * fragments, so the emulator reads the frame headers on the raw socket alongside it (frames.ts). A
 * message sent as several frames of up to 32 KB each may thus reach 128 KB, as on AWS.
 */
import { createServer, type IncomingMessage, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { assertIdentitySources, identityPresent, runAuthorizer } from './authorizer';
import { CLOSE_GRACE_MS, CLOSE_REASONS, type Connection } from './connection';
import {
  type ApiInfo,
  authorizerEvent,
  type ConnectionInfo,
  connectEvent,
  disconnectEvent,
  handshakeRequest,
  messageEvent,
} from './events';
import { FrameHeaderReader, isControlFrame } from './frames';
import { newAwsId } from './ids';
import { handleManagementRequest, setRequestId } from './management';
import { DEFAULTS, type WebSocketApi, type WebSocketApiOptions } from './options';
import { selectionPath, toBuffer } from './routes';
import { connectResponseHeaders, refuse } from './upgrade';
import { errorMessage, isRecord, statusOf } from './values';

export type { Invoke, WebSocketApi, WebSocketApiOptions } from './options';
export { connectResponseHeaders } from './upgrade';

/** Only the authorizer's `methodArn` shows these; LocalStack uses the same placeholders. */
const REGION = 'us-east-1';
const ACCOUNT_ID = '000000000000';

/** What the emulator's parts share once it listens. */
interface Emulator {
  settings: typeof DEFAULTS & WebSocketApiOptions;
  api: ApiInfo;
  /** The JSON path that `routeSelectionExpression` names. */
  routePath: string[];
  connections: Map<string, Connection>;
  log: (line: string) => void;
  /** Keeps a background task visible to close(). */
  track: (task: Promise<void>) => void;
  /** Set by close(): a handshake from then on is refused. */
  closing: boolean;
}

/** The `ws` server that completes accepted handshakes, and the headers `$connect` returned for each. */
interface Handshakes {
  wss: WebSocketServer;
  headers: WeakMap<IncomingMessage, string[]>;
}

/**
 * Starts the emulator and resolves once it listens.
 * @throws Error when the route selection expression or an identity source is not supported.
 */
export async function startWebSocketApi(options: WebSocketApiOptions): Promise<WebSocketApi> {
  const settings = { ...DEFAULTS, ...definedOnly(options) };
  const { stage } = settings;
  const routePath = selectionPath(settings.routeSelectionExpression);
  if (options.authorizer) assertIdentitySources(options.authorizer.identitySource);
  const log = options.onLog ?? (() => undefined);

  const connections = new Map<string, Connection>();
  const injectedFailures = new Map<string, number>();
  const pending = new Set<Promise<void>>();
  let closed: Promise<void> | undefined;

  /** Keeps a background task visible to close(). */
  const track = (task: Promise<void>) => {
    const settled = task.catch((err: unknown) => log(`EMULATOR   task failed: ${errorMessage(err)}`));
    pending.add(settled);
    void settled.then(() => pending.delete(settled));
  };

  const server = createServer((req, res) => {
    const handled = handleManagementRequest(req, res, {
      stage,
      maxMessageBytes: settings.maxMessageBytes,
      // A connection the server is already closing is gone for the management API.
      find: (id) => {
        const connection = connections.get(id);
        return connection?.serverClose ? undefined : connection;
      },
      injectedPostStatus: (id) => injectedFailures.get(id),
    });
    if (!handled) {
      setRequestId(res);
      res.writeHead(403, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': 'ForbiddenException' });
      res.end(JSON.stringify({ message: 'Forbidden' }));
    }
  });
  const handshakes = createHandshakes(settings.maxMessageBytes);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const domainName = `${settings.host}:${port}`;
  const api: ApiInfo = { apiId: settings.apiId, stage, domainName, region: REGION, accountId: ACCOUNT_ID };
  const emulator: Emulator = { settings, api, routePath, connections, log, track, closing: false };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    track(
      accept(emulator, handshakes, req, socket, head).catch((err: unknown) => {
        refuse(socket, 500, 'Internal server error');
        log(`CONNECT    refused 500: ${errorMessage(err)}`);
      }),
    );
  });

  return {
    url: `ws://${domainName}/${stage}`,
    managementEndpoint: `http://${domainName}/${stage}`,
    injectPostFailure(connectionId, status) {
      if (status === undefined) injectedFailures.delete(connectionId);
      else injectedFailures.set(connectionId, status);
    },
    dropConnection(connectionId) {
      const connection = connections.get(connectionId);
      if (!connection) return;
      connection.dropped = true;
      clearTimers(connection);
      connections.delete(connectionId);
      connection.socket.terminate();
    },
    connectionIds: () => [...connections.keys()],
    close() {
      closed ??= shutDown();
      return closed;
    },
  };

  async function shutDown(): Promise<void> {
    emulator.closing = true;
    const open = [...connections.values()];
    for (const connection of open) closeConnection(connection, 1001, 'Going away');
    await Promise.all(open.map((connection) => connection.closed));
    // Settling one task (a handshake in progress) can start another (its $disconnect).
    while (pending.size > 0) await Promise.all(pending);
    handshakes.wss.close();
    await new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    });
  }
}

/** Drops keys whose value is undefined, so they do not override defaults when spread. */
function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function createHandshakes(maxMessageBytes: number): Handshakes {
  // ws would pick the first subprotocol the client offers; API Gateway picks none by itself, so the
  // 101 response carries only the headers `$connect` returned (added on 'headers' below).
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxMessageBytes,
    handleProtocols: () => false,
  });
  const handshakeHeaders = new WeakMap<IncomingMessage, string[]>();
  wss.on('headers', (headers: string[], req: IncomingMessage) => {
    headers.push(...(handshakeHeaders.get(req) ?? []));
  });
  return { wss, headers: handshakeHeaders };
}

function selectRoute(emulator: Emulator, body: string): string | undefined {
  const { routes } = emulator.settings;
  let value: unknown;
  try {
    value = JSON.parse(body);
    for (const key of emulator.routePath) value = isRecord(value) ? value[key] : undefined;
  } catch {
    value = undefined;
  }
  // Route keys starting with `$` are reserved: a client cannot select `$connect` by name.
  if (typeof value === 'string' && !value.startsWith('$') && Object.hasOwn(routes, value)) return value;
  return routes.$default ? '$default' : undefined;
}

function clearTimers(connection: Connection): void {
  clearTimeout(connection.idleTimer);
  clearTimeout(connection.maxTimer);
  clearTimeout(connection.graceTimer);
}

function closeConnection(connection: Connection, code: number, reason: string): void {
  if (connection.serverClose || connection.dropped) return;
  connection.serverClose = { code, reason };
  clearTimeout(connection.idleTimer);
  clearTimeout(connection.maxTimer);
  connection.socket.close(code, reason);
  connection.graceTimer = setTimeout(() => connection.socket.terminate(), CLOSE_GRACE_MS);
}

/**
 * Data frames in either direction count as activity: AWS closes a connection when "no messages are
 * sent between the server and client" for the idle period, so server pushes keep it open too.
 */
function touch(connection: Connection): void {
  connection.lastActiveAt = Date.now();
  connection.idleTimer.refresh();
}

function sendFrame(connection: Connection, data: string | Buffer): boolean {
  if (connection.serverClose || connection.socket.readyState !== WebSocket.OPEN) return false;
  connection.socket.send(data, { binary: false });
  touch(connection);
  return true;
}

async function dispatch(emulator: Emulator, connection: Connection, body: string): Promise<void> {
  const { api, log, settings } = emulator;
  const { connectionId } = connection.info;
  const started = Date.now();
  const routeKey = selectRoute(emulator, body);
  const route = routeKey === undefined ? undefined : settings.routes[routeKey];
  if (routeKey === undefined || route === undefined) {
    sendFrame(connection, JSON.stringify({ message: 'Forbidden', connectionId, requestId: newAwsId() }));
    log(`MESSAGE    ${connectionId} no route and no $default → Forbidden`);
    return;
  }
  const event = messageEvent(api, connection.info, routeKey, body, started);
  try {
    const result = await route.invoke(event);
    const reply =
      route.twoWay && isRecord(result) && typeof result.body === 'string' ? result.body : undefined;
    if (reply !== undefined) sendFrame(connection, reply);
    if (settings.logInvocations !== false) {
      log(
        `MESSAGE    ${connectionId} ${routeKey} → ${statusOf(result)} in ${Date.now() - started} ms` +
          (reply === undefined ? '' : `, replied ${Buffer.byteLength(reply)} bytes`),
      );
    }
  } catch (err: unknown) {
    const { requestId } = event.requestContext;
    sendFrame(connection, JSON.stringify({ message: 'Internal server error', connectionId, requestId }));
    log(`MESSAGE    ${connectionId} ${routeKey} → failed: ${errorMessage(err)}`);
  }
}

async function runDisconnect(
  emulator: Emulator,
  info: ConnectionInfo,
  close: { code: number; reason: string },
): Promise<void> {
  const { api, log } = emulator;
  const route = emulator.settings.routes.$disconnect;
  let outcome = 'no $disconnect route';
  if (route) {
    try {
      outcome = `$disconnect → ${statusOf(await route.invoke(disconnectEvent(api, info, close, Date.now())))}`;
    } catch (err: unknown) {
      outcome = `$disconnect failed: ${errorMessage(err)}`;
    }
  }
  log(`DISCONNECT ${info.connectionId} ${close.code} ${close.reason}, ${outcome}`);
}

/** `raw` is the socket under `socket`, whose bytes are read for frame headers. */
function register(emulator: Emulator, socket: WebSocket, raw: Duplex, info: ConnectionInfo): void {
  const { connections, log, settings, track } = emulator;
  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  const connection: Connection = {
    info,
    socket,
    connectedAt: info.connectedAt,
    lastActiveAt: info.connectedAt,
    sourceIp: info.sourceIp,
    userAgent: info.userAgent,
    idleTimer: setTimeout(() => closeConnection(connection, 1001, 'Going away'), settings.idleTimeoutMs),
    maxTimer: setTimeout(() => closeConnection(connection, 1001, 'Going away'), settings.maxConnectionMs),
    dropped: false,
    closed,
    send: (data) => sendFrame(connection, data),
    delete: () => closeConnection(connection, 1000, 'Connection Closed Normally'),
  };
  connections.set(info.connectionId, connection);

  // Prepended, so a frame's header is judged before ws (on the same socket) can emit its message.
  const frames = new FrameHeaderReader(({ opcode, length }) => {
    if (!isControlFrame(opcode) && length > settings.maxFrameBytes) {
      closeConnection(connection, 1009, 'Message too big');
    }
  });
  const readFrames = (chunk: Buffer) => {
    if (connection.serverClose || connection.dropped) raw.off('data', readFrames);
    else frames.push(chunk);
  };
  raw.prependListener('data', readFrames);

  socket.on('message', (data: RawData, isBinary: boolean) => {
    if (connection.serverClose || connection.dropped) return;
    touch(connection);
    const bytes = toBuffer(data);
    if (isBinary) return closeConnection(connection, 1003, 'Unsupported data');
    track(dispatch(emulator, connection, bytes.toString('utf8')));
  });
  // ws answers a protocol violation itself (a message over maxPayload gets 1009) and then reports the
  // close as 1006, so the code it sent is recorded here for $disconnect.
  socket.on('error', (err: Error & { code?: string }) => {
    if (connection.serverClose || !err.code?.startsWith('WS_ERR_')) return;
    connection.serverClose =
      err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? { code: 1009, reason: CLOSE_REASONS[1009] ?? '' }
        : { code: 1002, reason: 'Protocol error' };
  });
  socket.on('close', (code: number, reason: Buffer) => {
    clearTimers(connection);
    connections.delete(info.connectionId);
    if (connection.dropped) {
      log(`DISCONNECT ${info.connectionId} dropped without $disconnect`);
      markClosed();
      return;
    }
    const close = connection.serverClose ?? {
      code,
      reason: reason.toString('utf8') || (CLOSE_REASONS[code] ?? ''),
    };
    track(runDisconnect(emulator, info, close).then(markClosed));
  });
}

async function accept(
  emulator: Emulator,
  handshakes: Handshakes,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  const { api, log, settings } = emulator;
  const { authorizer, routes, stage } = settings;
  // A client that resets mid-handshake must not crash the process.
  socket.on('error', () => undefined);
  const started = Date.now();
  const url = new URL(req.url ?? '/', `http://${api.domainName}`);
  const refused = (status: number, message: string, why: string) => {
    refuse(socket, status, message);
    log(`CONNECT    refused ${status} ${why}`);
  };
  if (emulator.closing) return refused(503, 'Service Unavailable', 'because the emulator is closing');
  if (url.pathname !== `/${stage}` && url.pathname !== `/${stage}/`) {
    return refused(403, 'Forbidden', `for unknown path ${url.pathname}`);
  }
  if (req.headers.upgrade?.toLowerCase() !== 'websocket' || req.headers['sec-websocket-key'] === undefined) {
    return refused(400, 'Bad Request', 'for a malformed WebSocket handshake');
  }

  const info: ConnectionInfo = {
    connectionId: newAwsId(),
    connectedAt: started,
    sourceIp: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
    userAgent: req.headers['user-agent'] ?? '',
  };
  const request = handshakeRequest(req, url, info.sourceIp, started);

  if (authorizer) {
    if (!identityPresent(authorizer.identitySource, request)) {
      return refused(401, 'Unauthorized', 'because an identity source is missing (authorizer not invoked)');
    }
    const event = authorizerEvent(api, info, request, started);
    const outcome = await runAuthorizer(authorizer.invoke, event);
    if (!outcome.allowed) return refused(outcome.status, outcome.message, 'by the authorizer');
    info.authorizer = {
      ...outcome.context,
      principalId: outcome.principalId,
      integrationLatency: Date.now() - started,
    };
  }

  const connectRoute = routes.$connect;
  if (connectRoute) {
    let result: unknown;
    try {
      result = await connectRoute.invoke(connectEvent(api, info, request, Date.now()));
    } catch (err: unknown) {
      return refused(500, 'Internal server error', `because $connect threw: ${errorMessage(err)}`);
    }
    const status = statusOf(result);
    if (status < 200 || status > 299) {
      return refused(status, STATUS_CODES[status] ?? 'Error', `because $connect returned ${status}`);
    }
    handshakes.headers.set(req, connectResponseHeaders(result));
  }

  if (emulator.closing || socket.destroyed) {
    if (emulator.closing) refused(503, 'Service Unavailable', 'because the emulator closed during $connect');
    else log(`CONNECT    ${info.connectionId} abandoned: the client left during $connect`);
    // $connect may have stored the connection, so its cleanup must run as it would on AWS.
    if (connectRoute) await runDisconnect(emulator, info, { code: 1006, reason: CLOSE_REASONS[1006] ?? '' });
    return;
  }
  handshakes.wss.handleUpgrade(req, socket, head, (ws) => {
    register(emulator, ws, socket, info);
    const principal = info.authorizer ? ` principalId=${String(info.authorizer.principalId)}` : '';
    if (settings.logInvocations !== false) {
      log(`CONNECT    ${info.connectionId}${principal} in ${Date.now() - started} ms`);
    }
  });
}
