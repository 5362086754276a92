/** What `startWebSocketApi` takes and gives back, and the defaults it fills in. */

/**
 * Invokes a function with an event and resolves with its result (structurally local/functions.ts's).
 * `signal` is aborted when API Gateway stops waiting for it: an invocation not started by then never runs.
 */
export type Invoke = (event: unknown, options?: { signal?: AbortSignal }) => Promise<unknown>;

export interface WebSocketApiOptions {
  /** 0 picks any free port. @default 0 */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 'local' */
  stage?: string;
  /** @default 'local' */
  apiId?: string;
  /** Only `$request.body.<path>` is supported. @default '$request.body.action' */
  routeSelectionExpression?: string;
  /** Route key → handler: `$connect`, `$disconnect`, `$default` and custom keys. */
  routes: Record<string, { invoke: Invoke; twoWay: boolean }>;
  /** The `$connect` REQUEST authorizer, e.g. identitySource `['route.request.querystring.token']`. */
  authorizer?: { invoke: Invoke; identitySource: string[] };
  /** Closes (1001) a connection with no data frame in either direction for this long. @default 600000 */
  idleTimeoutMs?: number;
  /** Closes (1001) every connection this long after it opened. @default 7200000 */
  maxConnectionMs?: number;
  /**
   * How long a message route's integration may take, from the frame's arrival: past it the client gets
   * `{"message":"Endpoint request timed out",…}` and the integration's answer, when it comes, is dropped.
   * @default 29000
   */
  integrationTimeoutMs?: number;
  /** A larger client frame (one fragment of a message) closes the socket with 1009. @default 32768 */
  maxFrameBytes?: number;
  /**
   * A larger client message (all its frames together) closes with 1009; a larger management POST gets
   * 413. @default 131072
   */
  maxMessageBytes?: number;
  /** One readable line per connect, refused connect, route invocation and disconnect. */
  onLog?: (line: string) => void;
  /**
   * Log each successful route invocation. Off when the invoker logs invocations itself.
   * @default true
   */
  logInvocations?: boolean;
}

export interface WebSocketApi {
  /** `ws://HOST:PORT/{stage}` */
  url: string;
  /** `http://HOST:PORT/{stage}`: the SDK appends `/@connections/{id}`. */
  managementEndpoint: string;
  /** Test hook: management POSTs to this connection answer with this HTTP status, until cleared with undefined. */
  injectPostFailure(connectionId: string, status: number | undefined): void;
  /** Test hook: drops a socket WITHOUT running `$disconnect`, as a vanished client or lost network does. */
  dropConnection(connectionId: string): void;
  connectionIds(): string[];
  /** Closes every socket (running `$disconnect` for each), waits for running invocations, stops the server. */
  close(): Promise<void>;
}

export const DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  stage: 'local',
  apiId: 'local',
  routeSelectionExpression: '$request.body.action',
  idleTimeoutMs: 10 * 60 * 1000,
  maxConnectionMs: 2 * 60 * 60 * 1000,
  integrationTimeoutMs: 29_000,
  maxFrameBytes: 32 * 1024,
  maxMessageBytes: 128 * 1024,
};
