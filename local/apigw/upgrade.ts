/** The WebSocket handshake: refused with a plain HTTP answer, or answered with `$connect`'s headers. */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { isRecord } from './values';

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
