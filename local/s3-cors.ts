/**
 * A front for the local S3 that does what fauxqs does not and S3 on AWS does:
 * - CORS: fauxqs answers no preflight, no `Access-Control-*` headers, and has no PutBucketCors, so the
 *   web page, served from the control plane's origin, could not upload or download an attachment. This
 *   proxy answers preflights from the bucket's CORS rule and adds the rule's headers to every response.
 * - POST object uploads (presigned POST with a policy), which fauxqs lacks: ./s3-post.ts holds the form
 *   to its policy and the upload is stored with a PUT.
 * - The `response-content-type` and `response-content-disposition` of a GET, which fauxqs ignores.
 * Every other request is forwarded to fauxqs unchanged, streaming both bodies, and every answer carries
 * `X-Content-Type-Options: nosniff`. Signatures are checked nowhere locally (docs/security.md).
 */
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { ATTACHMENTS_CORS } from '../shared/attachments';
import { LOOPBACK_HOST, refuseForeignRequest } from './loopback';
import { isFormUpload, readFormUpload } from './s3-post';

/** One CORS rule as S3 evaluates it. `*` alone matches any origin or header. */
export interface CorsRule {
  allowedMethods: readonly string[];
  allowedOrigins: readonly string[];
  /** Matched case-insensitively, as S3 does. */
  allowedHeaders: readonly string[];
  exposedHeaders: readonly string[];
  maxAgeSeconds: number;
}

/** The rule the stack gives the deployed bucket (shared/attachments.ts), with its default origins: every one. */
export const ATTACHMENTS_CORS_RULE: CorsRule = { ...ATTACHMENTS_CORS, allowedOrigins: ['*'] };

export interface S3CorsProxy {
  /** Same shape as fauxqs's (`http://s3.localhost:PORT`), so buckets stay virtual hosts of it. */
  endpoint: string;
  /**
   * Narrows the origins the rule allows (the runtime names its web page's once the page is served).
   * fauxqs checks no signature, so locally the origin is what keeps another site's page, open in the
   * same browser, from listing the bucket or reading its files; on AWS the signature does that.
   */
  allowOrigins(origins: readonly string[]): void;
  stop(): Promise<void>;
}

export interface S3CorsProxyOptions {
  /** The S3 to forward to, e.g. fauxqs's `http://s3.localhost:PORT`. */
  upstream: string;
  /** @default ATTACHMENTS_CORS_RULE */
  rule?: CorsRule;
  /** 0 or absent: a free port. */
  port?: number;
}

/**
 * Each side keeps its own connection: fauxqs's keep-alive timeout is not the proxy's, and a browser that
 * trusted it would reuse a socket the proxy already closed.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive']);

const endToEnd = (headers: IncomingHttpHeaders): IncomingHttpHeaders =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));

/**
 * What reaches fauxqs: the browser's Origin stays here, where the rule was checked, since fauxqs refuses
 * every request that carries one (local/services.ts).
 */
const forwarded = (headers: IncomingHttpHeaders): IncomingHttpHeaders => {
  const { origin: _checkedHere, ...rest } = endToEnd(headers);
  return rest;
};

const matches = (allowed: readonly string[], value: string): boolean =>
  allowed.some((entry) => entry === '*' || entry.toLowerCase() === value.toLowerCase());

/**
 * The headers S3 adds when the rule allows this origin, method and request headers; undefined when it
 * does not (S3 then answers a preflight 403 and other requests without CORS headers).
 */
function corsHeaders(
  rule: CorsRule,
  origin: string | undefined,
  method: string,
  requestHeaders: string[],
): OutgoingHttpHeaders | undefined {
  if (origin === undefined || !matches(rule.allowedOrigins, origin)) return undefined;
  if (!rule.allowedMethods.includes(method)) return undefined;
  if (!requestHeaders.every((header) => matches(rule.allowedHeaders, header))) return undefined;
  return {
    'access-control-allow-origin': rule.allowedOrigins.includes('*') ? '*' : origin,
    'access-control-allow-methods': rule.allowedMethods.join(', '),
    // S3 echoes the headers asked for, not the rule's list.
    ...(requestHeaders.length > 0 ? { 'access-control-allow-headers': requestHeaders.join(', ') } : {}),
    ...(rule.exposedHeaders.length > 0
      ? { 'access-control-expose-headers': rule.exposedHeaders.join(', ') }
      : {}),
    'access-control-max-age': String(rule.maxAgeSeconds),
    vary: 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method',
  };
}

/** On every answer: a browser must not guess a type other than the one S3 names (S3 cannot send it). */
const NOSNIFF = { 'x-content-type-options': 'nosniff' } as const;

/**
 * The headers a GET's `response-*` query parameters ask S3 to answer with (S3 honours them on signed
 * requests only; locally nothing is signed-checked).
 */
function responseOverrides(path: string | undefined): OutgoingHttpHeaders {
  const query = new URL(path ?? '/', 'http://s3.localhost').searchParams;
  const type = query.get('response-content-type');
  const disposition = query.get('response-content-disposition');
  return {
    ...(type === null ? {} : { 'content-type': type }),
    ...(disposition === null ? {} : { 'content-disposition': disposition }),
  };
}

/**
 * The bucket a request names: the first label of a virtual host (`<bucket>.s3.localhost`), else the
 * first path segment (an address or `s3.localhost`, as fauxqs reads it too).
 */
function bucketOf(req: IncomingMessage): string {
  const host = (req.headers.host ?? '').split(':')[0] ?? '';
  const virtual = /^([^.]+)\.s3\.localhost$/.exec(host)?.[1];
  return virtual ?? (req.url ?? '/').split('?')[0]?.split('/')[1] ?? '';
}

function s3Error(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: OutgoingHttpHeaders = {},
): void {
  res.writeHead(status, { ...headers, ...NOSNIFF, 'content-type': 'application/xml' });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  );
}

/** S3 answers every OPTIONS itself, from the bucket's CORS rules; fauxqs never sees one. */
function answerPreflight(rule: CorsRule, req: IncomingMessage, res: ServerResponse): void {
  const method = req.headers['access-control-request-method'];
  if (req.headers.origin === undefined || method === undefined) {
    s3Error(res, 400, 'BadRequest', 'Insufficient information. Origin request header needed.');
    return;
  }
  const requested = (req.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((header) => header.trim())
    .filter((header) => header !== '');
  const headers = corsHeaders(rule, req.headers.origin, method, requested);
  if (headers === undefined) {
    s3Error(res, 403, 'AccessForbidden', 'CORSResponse: This CORS request is not allowed.');
    return;
  }
  res.writeHead(200, { ...headers, ...NOSNIFF, 'content-length': 0 });
  res.end();
}

/**
 * Starts the proxy on 127.0.0.1 (where browsers and this process's patched lookup put `*.localhost`).
 * A Host that does not name loopback (DNS rebinding) is refused with 403, as fauxqs itself does.
 * The Host header is forwarded as it came, port included: fauxqs reads only the bucket name from it and
 * checks no signature, so the proxy's port there changes nothing.
 */
export async function startS3CorsProxy(options: S3CorsProxyOptions): Promise<S3CorsProxy> {
  let rule = options.rule ?? ATTACHMENTS_CORS_RULE;
  const upstream = new URL(options.upstream);
  // Our own pool, so stop() can close the sockets to fauxqs instead of leaving them to time out.
  const agent = new Agent({ keepAlive: true });

  /**
   * The CORS headers for this request; undefined when it was refused here. A browser names the page's
   * origin; one the rule does not allow gets nothing done, not merely an unreadable answer (a simple
   * request needs no preflight). Tools without an Origin pass.
   */
  const admit = (req: IncomingMessage, res: ServerResponse): OutgoingHttpHeaders | undefined => {
    const cors = corsHeaders(rule, req.headers.origin, req.method ?? '', []);
    if (req.headers.origin !== undefined && cors === undefined) {
      req.resume();
      s3Error(res, 403, 'AccessForbidden', 'CORSResponse: This CORS request is not allowed.');
      return undefined;
    }
    return cors ?? {};
  };

  /** A presigned POST: held to its policy here, then stored in fauxqs with a PUT of its key. */
  const upload = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const cors = admit(req, res);
    if (cors === undefined) return;
    const form = await readFormUpload(req, bucketOf(req), new Date());
    if ('status' in form) {
      s3Error(res, form.status, form.code, form.message, cors);
      return;
    }
    // The bucket stays where the POST named it: in the Host, or as the first path segment.
    const base = (req.url ?? '/').split('?')[0]?.replace(/\/$/, '') ?? '';
    const path = `${base}/${form.key.split('/').map(encodeURIComponent).join('/')}`;
    const put = request({
      host: upstream.hostname,
      port: upstream.port,
      method: 'PUT',
      path,
      headers: {
        host: req.headers.host,
        'content-type': form.contentType,
        'content-length': form.file.byteLength,
      },
      agent,
    });
    put.on('response', (stored) => {
      stored.resume();
      const status = stored.statusCode ?? 502;
      // S3 answers a successful form upload 204 with no body (success_action_status's default).
      if (status >= 200 && status < 300) {
        res.writeHead(204, { ...cors, ...NOSNIFF, etag: stored.headers.etag ?? '' });
        res.end();
      } else s3Error(res, status, 'InternalError', 'The local S3 did not store the upload', cors);
    });
    put.on('error', (err) =>
      s3Error(res, 502, 'BadGateway', `The local S3 did not answer: ${err.message}`, cors),
    );
    put.end(form.file);
  };

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const cors = admit(req, res);
    if (cors === undefined) return;
    const overrides = req.method === 'GET' ? responseOverrides(req.url) : {};
    const outgoing = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: forwarded(req.headers),
        agent,
      },
      (incoming) => {
        const status = incoming.statusCode ?? 502;
        const asked = status >= 200 && status < 300 ? overrides : {};
        res.writeHead(status, { ...endToEnd(incoming.headers), ...asked, ...cors, ...NOSNIFF });
        // pipeline ends the browser's response too if fauxqs's breaks off.
        pipeline(incoming, res, () => undefined);
      },
    );
    outgoing.on('error', (err) => {
      if (res.headersSent) res.destroy(err);
      else s3Error(res, 502, 'BadGateway', `The local S3 did not answer: ${err.message}`);
    });
    // A client that leaves mid-upload or mid-download: give up the request to fauxqs too.
    res.on('close', () => {
      if (!res.writableFinished) outgoing.destroy();
    });
    req.pipe(outgoing);
  };

  const server = createServer((req, res) => {
    // Origins are the CORS rule's to judge; only the Host is checked here.
    const refusal = refuseForeignRequest(req.headers, () => true);
    if (refusal !== undefined) {
      req.resume();
      s3Error(res, refusal.status, 'AccessForbidden', refusal.message);
    } else if (req.method === 'OPTIONS') answerPreflight(rule, req, res);
    else if (isFormUpload(req)) {
      upload(req, res).catch((err: unknown) => {
        if (res.headersSent) res.destroy();
        else s3Error(res, 500, 'InternalError', err instanceof Error ? err.message : String(err));
      });
    } else forward(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, LOOPBACK_HOST, resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://s3.localhost:${port}`,
    allowOrigins: (origins) => {
      rule = { ...rule, allowedOrigins: [...origins] };
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        // close() waits for every open request, and a browser's upload or a kept-alive connection
        // may never end on its own: that would hold up runtime.stop() and so `npm start`'s exit.
        server.closeAllConnections();
        server.close((err) => {
          agent.destroy();
          if (err) reject(err);
          else resolve();
        });
      }),
  };
}
