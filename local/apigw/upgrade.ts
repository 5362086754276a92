/** The WebSocket handshake: refused with a plain HTTP answer, or answered with `$connect`'s headers. */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { identityPresent, runAuthorizer } from './authorizer';
import { CLOSE_REASONS } from './connection';
import type { Emulator } from './emulator';
import { authorizerEvent, type ConnectionInfo, connectEvent, handshakeRequest } from './events';
import { newAwsId } from './ids';
import { register, runDisconnect } from './routes';
import { errorMessage, isRecord, statusOf } from './values';

/** The `ws` server that completes accepted handshakes, and the headers `$connect` returned for each. */
export interface Handshakes {
  wss: WebSocketServer;
  headers: WeakMap<IncomingMessage, string[]>;
}

/** Headers the WebSocket handshake itself defines: a `$connect` result cannot override them. */
const HANDSHAKE_HEADERS = new Set([
  'connection',
  'content-length',
  'sec-websocket-accept',
  'sec-websocket-extensions',
  'sec-websocket-version',
  'transfer-encoding',
  'upgrade',
]);

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Any control character but tab (CR and LF above all) would break or split the response head. */
function safeHeaderValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return false;
  }
  return true;
}

/**
 * The header lines of the 101 response for a `$connect` result's `headers`. As on API Gateway, the
 * subprotocol is whatever `Sec-WebSocket-Protocol` the handler returned (any spelling of the name), and
 * none when it returned none, whatever the client offered. Names the handshake defines, invalid names
 * and values with control characters are dropped.
 */
export function connectResponseHeaders(result: unknown): string[] {
  if (!isRecord(result) || !isRecord(result.headers)) return [];
  const lines: string[] = [];
  for (const [name, raw] of Object.entries(result.headers)) {
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') continue;
    const value = String(raw);
    if (!HEADER_NAME.test(name) || !safeHeaderValue(value)) continue;
    const lower = name.toLowerCase();
    if (HANDSHAKE_HEADERS.has(lower)) continue;
    lines.push(`${lower === 'sec-websocket-protocol' ? 'Sec-WebSocket-Protocol' : name}: ${value}`);
  }
  return lines;
}

/** Refuses a WebSocket handshake with a plain HTTP response, as API Gateway does. */
export function refuse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ message });
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The `ws` server for accepted handshakes, which adds the headers `$connect` returned to each 101. */
export function createHandshakes(maxMessageBytes: number): Handshakes {
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

/**
 * Answers one upgrade request as API Gateway does: the stage path, then the authorizer, then `$connect`;
 * a refusal at any step is a plain HTTP response, and success opens the connection.
 */
export async function accept(
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
