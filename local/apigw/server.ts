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
 *
 * - options.ts: what startWebSocketApi takes and returns; emulator.ts: what its parts share
 * - upgrade.ts: the handshake: the authorizer, `$connect`, the 101 response or a refusal
 * - routes.ts: an open connection's frames and messages, routed to their handlers, and `$disconnect`
 * - connection.ts: a connection's timers, sends and close; management.ts: the `@connections` API
 * - events.ts, authorizer.ts, frames.ts, ids.ts: the events, the policy check, frame headers, ids
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { assertIdentitySources } from './authorizer';
import { type Connection, clearTimers, closeConnection } from './connection';
import type { Emulator } from './emulator';
import type { ApiInfo } from './events';
import { handleManagementRequest, setRequestId } from './management';
import { DEFAULTS, type WebSocketApi, type WebSocketApiOptions } from './options';
import { selectionPath } from './routes';
import { accept, createHandshakes, refuse } from './upgrade';
import { errorMessage } from './values';

export type { Invoke, WebSocketApi, WebSocketApiOptions } from './options';
export { connectResponseHeaders } from './upgrade';

/** Only the authorizer's `methodArn` shows these; LocalStack uses the same placeholders. */
const REGION = 'us-east-1';
const ACCOUNT_ID = '000000000000';

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
