/** An open connection as the emulator keeps it, and how it is closed. */
import type { WebSocket } from 'ws';
import type { ConnectionInfo } from './events';
import type { ManagedConnection } from './management';

/** How long a client may take to answer our close frame before its socket is destroyed. */
export const CLOSE_GRACE_MS = 1000;

export const CLOSE_REASONS: Record<number, string> = {
  1000: 'Connection Closed Normally',
  1001: 'Going away',
  1003: 'Unsupported data',
  1005: 'No status code',
  1006: 'Connection closed abnormally',
  1009: 'Message too big',
};

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
