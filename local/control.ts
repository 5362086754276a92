/**
 * The local control plane: a development token issuer whose JWKS the real authorizer verifies against
 * (the same jose code path as on AWS), and a Lambda-style invoke endpoint for on-demand functions such
 * as the redrive.
 *
 *   GET  /.well-known/openid-configuration   issuer metadata
 *   GET  /.well-known/jwks.json              the public signing key
 *   GET  /token?user=alice[&expiresIn=3600]  {"token", "userId", "expiresAt"} (&format=text: the bare token)
 *   POST /functions/{name}/invocations       invokes a function with the JSON body, answers its result
 *   GET  /, /app.js, /style.css              the web chat page (web/), when the runtime built it
 *   GET  /config.json                        {"webSocketUrl"}: where the page connects
 *   POST /  (X-Amz-Target: AWSEvents.PutEvents)   the offline-event bus stand-in (local/event-bus.ts)
 *   GET  /events                             {"eventBusName", "events"}: every event put on it
 *
 * It listens on loopback and answers only this machine's tools and its own page: a request whose Host is
 * not a name of loopback (DNS rebinding) or whose Origin is another page's is refused with 403, and a
 * POST must be JSON (415 otherwise), which a browser sends cross-origin only after a preflight this
 * server never grants. Without that, any site open in the developer's browser could invoke `send` as
 * anyone with a `text/plain` POST.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { pageContentSecurityPolicy } from '../lib/web-headers';
import { userIdSchema } from '../shared/protocol';
import type { WebAsset } from '../web/build';
import type { LocalEventBus } from './event-bus';
import { LOOPBACK_HOST, refuseForeignRequest, sameOrigin } from './loopback';

/** The audience of local tokens; the authorizer is configured with it like an app client id on AWS. */
export const LOCAL_AUDIENCE = 'serverless-chat-local';
const DEFAULT_TOKEN_SECONDS = 60 * 60;
const MAX_INVOKE_BODY_BYTES = 256 * 1024;
/** The invocations' JSON and the event bus's AWS JSON: neither can be sent cross-origin without a preflight. */
const POST_MEDIA_TYPES = new Set(['application/json', 'application/x-amz-json-1.1']);

export interface TokenOptions {
  /** Seconds until expiry; negative values make an already expired token (for tests). @default 3600 */
  expiresInSeconds?: number;
}

export interface ControlPlane {
  url: string;
  issuer: string;
  jwksUrl: string;
  audience: string;
  issueToken(userId: string, options?: TokenOptions): Promise<string>;
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  port?: number;
  /** Invokes a function by wiring name; set after the functions are loaded. */
  invoke: (name: string, event: unknown) => Promise<unknown>;
  onLog?: (line: string) => void;
  /** The web chat page: its assets by URL path, and the WebSocket URL it connects to (known once the API runs). */
  web?: { assets: ReadonlyMap<string, WebAsset>; webSocketUrl: () => string };
  /** The EventBridge stand-in: answers `POST /` with an `X-Amz-Target: AWSEvents.*` header, and GET /events. */
  eventBus?: LocalEventBus;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * Attachments: the local S3 (fauxqs behind local/s3-cors.ts) is signed for as `http://<bucket>.s3.localhost:<port>`;
 * the page uploads there (connect-src) and shows images from there (img-src).
 */
const LOCAL_S3_ORIGINS = 'http://*.s3.localhost:*';

/**
 * The page loads scripts and styles from this origin only and connects only here, to the WebSocket API
 * and to the local S3, so even a rendering bug could not run a script that came in a message: the same
 * policy the deployed page gets (lib/web-headers.ts).
 */
const contentSecurityPolicy = (webSocketUrl: string): string =>
  pageContentSecurityPolicy({
    webSocketOrigin: new URL(webSocketUrl).origin,
    attachmentOrigins: [LOCAL_S3_ORIGINS],
  });

const mediaType = (req: IncomingMessage): string =>
  (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

/** Answers a request from anywhere but this machine's tools and the page's own origin, or a non-JSON POST. */
function refuseForeign(req: IncomingMessage, res: ServerResponse): boolean {
  const refusal = refuseForeignRequest(req.headers, sameOrigin);
  if (refusal === undefined && (req.method !== 'POST' || POST_MEDIA_TYPES.has(mediaType(req)))) return false;
  req.resume();
  if (refusal !== undefined) send(res, refusal.status, { message: refusal.message });
  else send(res, 415, { message: 'A POST here must be application/json' });
  return true;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_INVOKE_BODY_BYTES) throw new Error(`Request body over ${MAX_INVOKE_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the control plane with a fresh RS256 key; tokens of an earlier run are no longer valid. */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = randomUUID();
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  let issuer = '';

  const issueToken = async (userId: string, tokenOptions: TokenOptions = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ token_use: 'id' })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setSubject(userIdSchema.parse(userId))
      .setIssuer(issuer)
      .setAudience(LOCAL_AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + (tokenOptions.expiresInSeconds ?? DEFAULT_TOKEN_SECONDS))
      .sign(privateKey);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (refuseForeign(req, res)) return;
    const url = new URL(req.url ?? '/', issuer);
    if (req.method === 'GET' && url.pathname === '/.well-known/jwks.json') {
      return send(res, 200, { keys: [publicJwk] });
    }
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      return send(res, 200, { issuer, jwks_uri: `${issuer}/.well-known/jwks.json` });
    }
    if (req.method === 'GET' && url.pathname === '/token') {
      const user = userIdSchema.safeParse(url.searchParams.get('user'));
      if (!user.success)
        return send(res, 400, {
          message: 'Give ?user=<id>: 1-128 characters, no spaces, #, control or invisible characters',
        });
      const expiresIn = Number(url.searchParams.get('expiresIn') ?? DEFAULT_TOKEN_SECONDS);
      if (!Number.isInteger(expiresIn)) return send(res, 400, { message: 'expiresIn must be whole seconds' });
      const token = await issueToken(user.data, { expiresInSeconds: expiresIn });
      const expiresAt = new Date(Date.now() + expiresIn * 1000).toISOString();
      // `&format=text` answers the bare token, for `$(curl -s …)` in a shell.
      if (url.searchParams.get('format') === 'text') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`${token}\n`);
        return;
      }
      return send(res, 200, { token, userId: user.data, expiresAt });
    }
    const asset = options.web?.assets.get(url.pathname);
    if (req.method === 'GET' && asset !== undefined && options.web !== undefined) {
      res.writeHead(200, {
        'content-type': asset.contentType,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'content-security-policy': contentSecurityPolicy(options.web.webSocketUrl()),
      });
      res.end(asset.body);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/config.json' && options.web !== undefined) {
      return send(res, 200, { webSocketUrl: options.web.webSocketUrl() });
    }
    const eventBus = options.eventBus;
    if (
      eventBus !== undefined &&
      req.method === 'POST' &&
      url.pathname === '/' &&
      req.headers['x-amz-target'] !== undefined
    ) {
      const target = req.headers['x-amz-target'];
      const reply = eventBus.handle(Array.isArray(target) ? target[0] : target, await readBody(req));
      res.writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(reply.body));
      return;
    }
    if (eventBus !== undefined && req.method === 'GET' && url.pathname === '/events') {
      return send(res, 200, { eventBusName: eventBus.name, events: eventBus.events });
    }
    const invocation = /^\/functions\/([A-Za-z0-9_-]+)\/invocations$/.exec(url.pathname);
    if (req.method === 'POST' && invocation?.[1] !== undefined) {
      let event: unknown;
      try {
        const text = await readBody(req);
        event = text === '' ? {} : JSON.parse(text);
      } catch (err: unknown) {
        return send(res, 400, { message: err instanceof Error ? err.message : 'Unreadable body' });
      }
      try {
        return send(res, 200, await options.invoke(invocation[1], event));
      } catch (err: unknown) {
        // Like Lambda's Invoke API: the call succeeds, the function error travels in the payload.
        res.setHeader('x-amz-function-error', 'Unhandled');
        return send(
          res,
          200,
          err instanceof Error
            ? { errorType: err.name, errorMessage: err.message }
            : { errorType: 'Error', errorMessage: String(err) },
        );
      }
    }
    return send(res, 404, { message: `No route for ${req.method} ${url.pathname}` });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { message: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, LOOPBACK_HOST, resolve));
  const { port } = server.address() as AddressInfo;
  issuer = `http://${LOOPBACK_HOST}:${port}`;
  options.onLog?.(`control plane on ${issuer} (tokens: ${issuer}/token?user=alice)`);

  return {
    url: issuer,
    issuer,
    jwksUrl: `${issuer}/.well-known/jwks.json`,
    audience: LOCAL_AUDIENCE,
    issueToken,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
