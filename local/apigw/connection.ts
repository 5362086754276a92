/** An open connection as the emulator keeps it, and how it is closed. */
import { WebSocket } from 'ws';
import type { ConnectionInfo } from './events';
import type { ManagedConnection } from './management';

/** How long a client may take to answer our close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/** The reason `$disconnect` reports for a close code when the close frame gave none. */
export const CLOSE_REASONS: Record<number, string> = {
  1000: 'Connection Closed Normally',
  1001: 'Going away',
  1003: 'Unsupported data',
  1005: 'No status code',
  1006: 'Connection closed abnormally',
  1009: 'Message too big',
};

/** An open connection: what the management API sees, and the socket and timers behind it. */
export interface Connection extends ManagedConnection {
  info: ConnectionInfo;
  socket: WebSocket;
  idleTimer: NodeJS.Timeout;
  maxTimer: NodeJS.Timeout;
  graceTimer?: NodeJS.Timeout;
  /** Set when the server started the close: its code is what `$disconnect` reports. */
  serverClose?: { code: number; reason: string };
  dropped: boolean;
  /** Resolves once `$disconnect` has run (or was skipped for a dropped socket). */
  closed: Promise<void>;
}

/** Stops every timer of a connection that is gone. */
export function clearTimers(connection: Connection): void {
  clearTimeout(connection.idleTimer);
  clearTimeout(connection.maxTimer);
  clearTimeout(connection.graceTimer);
}

/**
 * Starts a server-side close (once): `code` is what `$disconnect` will report, and a client that does
 * not answer the close frame within a second has its socket destroyed.
 */
export function closeConnection(connection: Connection, code: number, reason: string): void {
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
export function touch(connection: Connection): void {
  connection.lastActiveAt = Date.now();
  connection.idleTimer.refresh();
}

/** Sends a text frame unless the connection is closing or closed; says whether it was sent. */
export function sendFrame(connection: Connection, data: string | Buffer): boolean {
  if (connection.serverClose || connection.socket.readyState !== WebSocket.OPEN) return false;
  connection.socket.send(data, { binary: false });
  touch(connection);
  return true;
}
