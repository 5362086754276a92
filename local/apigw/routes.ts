/**
 * An accepted connection's life: its frames held to the size limit, its messages routed to their
 * handlers, its close followed by `$disconnect`.
 */
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { CLOSE_REASONS, type Connection, clearTimers, closeConnection, sendFrame, touch } from './connection';
import type { Emulator } from './emulator';
import { type ConnectionInfo, disconnectEvent, messageEvent } from './events';
import { FrameHeaderReader, isControlFrame } from './frames';
import { newAwsId } from './ids';
import { errorMessage, isRecord, statusOf } from './values';

/** The JSON path of `$request.body.<path>`; anything else is a configuration error. */
export function selectionPath(expression: string): string[] {
  const match = /^\$request\.body\.([A-Za-z0-9_$]+(?:\.[A-Za-z0-9_$]+)*)$/.exec(expression);
  if (match?.[1] === undefined) {
    throw new Error(`Unsupported routeSelectionExpression '${expression}': use $request.body.<field>`);
  }
  return match[1].split('.');
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
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

const TIMED_OUT = Symbol('timed out');

/**
 * Resolves with TIMED_OUT after `ms` and aborts `gaveUp`, unless the invocation settles first (then
 * `gaveUp` is aborted to clear the timer, which no longer matters to a started invocation).
 */
function integrationTimeout(ms: number, gaveUp: AbortController): Promise<typeof TIMED_OUT> {
  return new Promise((resolve) => {
    const timer = setTimeout(
      () => {
        gaveUp.abort();
        resolve(TIMED_OUT);
      },
      Math.max(0, ms),
    );
    gaveUp.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  });
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
  const gaveUp = new AbortController();
  try {
    const invocation = route.invoke(event, { signal: gaveUp.signal });
    // Its answer, or failure, after the integration timeout goes nowhere, as on AWS.
    invocation.catch(() => undefined);
    const result = await Promise.race([
      invocation,
      integrationTimeout(settings.integrationTimeoutMs - (Date.now() - started), gaveUp),
    ]);
    if (result === TIMED_OUT) {
      const { requestId } = event.requestContext;
      sendFrame(
        connection,
        JSON.stringify({ message: 'Endpoint request timed out', connectionId, requestId }),
      );
      log(
        // Not "timed out": the bench counts function timeouts by those words.
        `MESSAGE    ${connectionId} ${routeKey} → past the ${settings.integrationTimeoutMs} ms integration timeout, no answer (waited ${Date.now() - started} ms)`,
      );
      return;
    }
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
  } finally {
    gaveUp.abort();
  }
}

/** Runs `$disconnect` for a closed connection and logs its outcome, a handler that throws included. */
export async function runDisconnect(
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

/**
 * Keeps an accepted socket as a connection until it closes. `raw` is the socket under `socket`, whose
 * bytes are read for frame headers.
 */
export function register(emulator: Emulator, socket: WebSocket, raw: Duplex, info: ConnectionInfo): void {
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
