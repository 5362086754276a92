import type { Connection } from './connection';
import type { ApiInfo } from './events';
import type { DEFAULTS, WebSocketApiOptions } from './options';

/** What the emulator's parts share once it listens. */
export interface Emulator {
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
