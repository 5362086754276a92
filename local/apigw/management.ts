/**
 * The `@connections` management API on the emulator's HTTP server, wire-compatible with
 * `@aws-sdk/client-apigatewaymanagementapi`: POST sends one text frame, GET describes the connection
 * (ISO-8601 `connectedAt`/`lastActiveAt`, `identity`), DELETE closes it. Every response carries an
 * `x-amzn-RequestId`; errors carry `x-amzn-ErrorType`, which the SDK turns into its named exceptions.
 * A GoneException (410) has an empty body, as on AWS; other errors have a JSON `message`.
 * Requests are not SigV4-verified: there is no account to verify against.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { newAwsId } from './ids';

/** A live connection as the management API sees it. */
export interface ManagedConnection {
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  /** Sends one text frame; false when the socket is already closing. */
  send(data: Buffer): boolean;
  /** Closes the socket; `$disconnect` runs as for any other close. */
  delete(): void;
}

export interface ManagementDeps {
  stage: string;
  /** Largest POST body; larger ones get 413 PayloadTooLargeException. */
  maxMessageBytes: number;
  find(connectionId: string): ManagedConnection | undefined;
  /** A status a test made POSTs to this connection answer with, if any. */
  injectedPostStatus(connectionId: string): number | undefined;
}

const ERROR_TYPES: Record<number, string> = {
  400: 'BadRequestException',
  403: 'ForbiddenException',
  410: 'GoneException',
  413: 'PayloadTooLargeException',
  429: 'LimitExceededException',
  500: 'InternalServerErrorException',
  503: 'ServiceUnavailableException',
};

/** Every management response, success or error, carries a request id of its own. */
export function setRequestId(res: ServerResponse): void {
  res.setHeader('x-amzn-RequestId', newAwsId());
}

function sendError(res: ServerResponse, status: number, message: string): void {
  const errorType =
    ERROR_TYPES[status] ?? (status >= 500 ? 'InternalServerErrorException' : 'BadRequestException');
  // API Gateway answers GoneException with no body at all: the error type header is all the SDK needs.
  if (status === 410) {
    res.writeHead(status, { 'Content-Length': 0, 'x-amzn-ErrorType': errorType });
    res.end();
    return;
  }
  const body = JSON.stringify({ message });
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-ErrorType': errorType,
  });
  res.end(body);
}

/** The connection id of `/{stage}/@connections/{id}`, or undefined for any other path. */
export function managementConnectionId(rawUrl: string, stage: string): string | undefined {
  const pathname = rawUrl.split('?')[0] ?? '';
  const segments = pathname.split('/');
  if (segments.length !== 4 || segments[0] !== '') return undefined;
  try {
    const [, stageSegment, resource, id] = segments.map((segment) => decodeURIComponent(segment));
    if (stageSegment !== stage || resource !== '@connections' || id === undefined || id === '')
      return undefined;
    return id;
  } catch {
    // A malformed %-escape cannot name a connection.
    return undefined;
  }
}

/** Reads the body, keeping at most `limit + 1` bytes so an oversize upload cannot exhaust memory. */
function readBody(req: IncomingMessage, limit: number): Promise<{ body: Buffer; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit + 1) chunks.push(chunk);
    });
    req.on('end', () => resolve({ body: Buffer.concat(chunks), tooLarge: size > limit }));
    req.on('error', reject);
  });
}

/**
 * Answers a management request. Returns false when the path is not `/{stage}/@connections/{id}`, so the
 * caller can answer it.
 */
export function handleManagementRequest(
  req: IncomingMessage,
  res: ServerResponse,
  deps: ManagementDeps,
): boolean {
  const connectionId = managementConnectionId(req.url ?? '', deps.stage);
  if (connectionId === undefined) return false;
  setRequestId(res);
  void answer(req, res, deps, connectionId).catch((err: unknown) => {
    if (!res.headersSent) sendError(res, 500, err instanceof Error ? err.message : 'Internal server error');
  });
  return true;
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  deps: ManagementDeps,
  connectionId: string,
): Promise<void> {
  switch (req.method) {
    case 'POST': {
      const { body, tooLarge } = await readBody(req, deps.maxMessageBytes);
      const injected = deps.injectedPostStatus(connectionId);
      if (injected !== undefined) return sendError(res, injected, `Injected failure ${injected}`);
      if (tooLarge) return sendError(res, 413, 'Request entity too large');
      const connection = deps.find(connectionId);
      if (connection === undefined || !connection.send(body)) return sendError(res, 410, 'Gone');
      res.writeHead(200, { 'Content-Length': 0 });
      res.end();
      return;
    }
    case 'GET': {
      const connection = deps.find(connectionId);
      if (connection === undefined) return sendError(res, 410, 'Gone');
      const body = JSON.stringify({
        connectedAt: new Date(connection.connectedAt).toISOString(),
        identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
        lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
      });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    case 'DELETE': {
      const connection = deps.find(connectionId);
      if (connection === undefined) return sendError(res, 410, 'Gone');
      connection.delete();
      res.writeHead(204);
      res.end();
      return;
    }
    default:
      return sendError(res, 403, 'Missing Authentication Token');
  }
}
