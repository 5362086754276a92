import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ATTACHMENTS_CORS_RULE, type S3CorsProxy, startS3CorsProxy } from '../../local/s3-cors';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/services';
import { useSqsEmulator } from '../support/local-runtime';

const PAGE_ORIGIN = 'http://localhost:3002';

interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

interface FakeS3 {
  url: string;
  /** Paths of requests whose headers arrived, body or not. */
  arrived: string[];
  /** Requests whose body arrived in full. */
  received: Received[];
  server: Server;
}

/** A stand-in for fauxqs that records each request and answers like a PutObject. */
async function startFakeS3(): Promise<FakeS3> {
  const arrived: string[] = [];
  const received: Received[] = [];
  const server = createServer((req, res) => {
    arrived.push(req.url ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { etag: '"abc"', 'x-amz-request-id': 'fake' });
      res.end('stored');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, arrived, received, server };
}

/** The proxy on 127.0.0.1, which is where `s3.localhost` resolves. */
const loopback = (proxy: S3CorsProxy): string => `http://127.0.0.1:${new URL(proxy.endpoint).port}`;

describe('the S3 CORS front against a stand-in S3', () => {
  let fake: FakeS3;
  let proxy: S3CorsProxy;

  beforeAll(async () => {
    fake = await startFakeS3();
    proxy = await startS3CorsProxy({ upstream: fake.url });
  });

  afterEach(() => {
    fake.arrived.length = 0;
    fake.received.length = 0;
  });

  afterAll(async () => {
    await proxy?.stop();
    fake?.server.closeAllConnections();
    fake?.server.close();
  });

  it("answers a page's preflight for a POST with content-type itself, as the bucket's rule allows", async () => {
    // Act
    const answer = await fetch(`${loopback(proxy)}/bucket/key?X-Amz-Signature=abc`, {
      method: 'OPTIONS',
      headers: {
        origin: PAGE_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
    expect(answer.headers.get('access-control-allow-methods')).toBe('POST, GET');
    expect(answer.headers.get('access-control-allow-headers')).toBe('content-type');
    expect(answer.headers.get('access-control-max-age')).toBe(String(ATTACHMENTS_CORS_RULE.maxAgeSeconds));
    expect(fake.received).toEqual([]);
  });

  it('refuses a preflight for a method or header the rule does not allow, and one without an Origin', async () => {
    // Prepare
    const preflight = (headers: Record<string, string>) =>
      fetch(`${loopback(proxy)}/bucket/key`, { method: 'OPTIONS', headers });

    // Act
    const deletion = await preflight({ origin: PAGE_ORIGIN, 'access-control-request-method': 'DELETE' });
    const put = await preflight({ origin: PAGE_ORIGIN, 'access-control-request-method': 'PUT' });
    const acl = await preflight({
      origin: PAGE_ORIGIN,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, x-amz-acl',
    });
    const noOrigin = await preflight({ 'access-control-request-method': 'PUT' });

    // Assess
    expect(deletion.status).toBe(403);
    // Uploads are POSTs with a policy; a presigned PUT would let any header ride along (issue 15).
    expect(put.status).toBe(403);
    expect(acl.status).toBe(403);
    expect(acl.headers.get('access-control-allow-origin')).toBeNull();
    expect(noOrigin.status).toBe(400);
  });

  it('forwards a GET unchanged but for the Origin it checked, and answers with what the S3 said plus the CORS headers and nosniff', async () => {
    // Prepare
    const path = '/bucket/conversations/c1/k?X-Amz-Expires=300&X-Amz-Signature=abc';

    // Act
    const answer = await fetch(`${loopback(proxy)}${path}`, {
      headers: { origin: PAGE_ORIGIN, 'x-extra': 'kept' },
    });

    // Assess
    expect(fake.received).toMatchObject([
      { method: 'GET', url: path, headers: { host: new URL(loopback(proxy)).host, 'x-extra': 'kept' } },
    ]);
    // fauxqs refuses every request that names an Origin (local/services.ts); the front has judged it.
    expect(fake.received[0]?.headers.origin).toBeUndefined();
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('stored');
    expect(answer.headers.get('etag')).toBe('"abc"');
    expect(answer.headers.get('x-amz-request-id')).toBe('fake');
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers a GET with the type and disposition its signed response-* parameters ask for, as S3 does', async () => {
    // Act
    const answer = await fetch(
      `${loopback(proxy)}/bucket/k?response-content-type=image%2Fpng&response-content-disposition=attachment%3B%20filename%3D%22k.png%22`,
    );

    // Assess
    expect(answer.headers.get('content-type')).toBe('image/png');
    expect(answer.headers.get('content-disposition')).toBe('attachment; filename="k.png"');
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
  });

  describe('a presigned POST', () => {
    const KEY = 'uploads/c1/k';
    const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const policy = (
      conditions: unknown[],
      expiration = new Date(Date.now() + 60_000).toISOString(),
    ): string => Buffer.from(JSON.stringify({ expiration, conditions })).toString('base64');
    /** The conditions uploadUrl signs for an 8-byte PNG at KEY. */
    const SIGNED = [
      { bucket: 'bucket' },
      { key: KEY },
      ['eq', '$Content-Type', 'image/png'],
      ['content-length-range', 8, 8],
    ];

    const post = (fields: Record<string, string>, file: Uint8Array = PNG): Promise<Response> => {
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) form.append(name, value);
      form.append('file', new Blob([file]));
      return fetch(`${loopback(proxy)}/bucket`, {
        method: 'POST',
        headers: { origin: PAGE_ORIGIN },
        body: form,
      });
    };
    const valid = {
      key: KEY,
      'Content-Type': 'image/png',
      Policy: policy(SIGNED),
      'X-Amz-Signature': 'unchecked',
    };

    it('is stored with a PUT of its key and Content-Type and answered 204 with the CORS headers', async () => {
      // Act
      const answer = await post(valid);

      // Assess
      expect(answer.status).toBe(204);
      expect(answer.headers.get('access-control-allow-origin')).toBe('*');
      expect(fake.received).toMatchObject([
        {
          method: 'PUT',
          url: `/bucket/${KEY}`,
          headers: { 'content-type': 'image/png', 'content-length': '8' },
        },
      ]);
    });

    it.each([
      ['another Content-Type', { 'Content-Type': 'text/html' }, PNG, 'Policy Condition failed'],
      ['another key', { key: 'conversations/c1/k' }, PNG, 'Policy Condition failed'],
      ['a field the policy does not name', { 'Content-Disposition': 'inline' }, PNG, 'Extra input fields'],
      ['a larger file', {}, new Uint8Array(9), 'content-length 9'],
      ['a smaller file', {}, new Uint8Array(7), 'content-length 7'],
      [
        'an expired policy',
        { Policy: policy(SIGNED, new Date(Date.now() - 1000).toISOString()) },
        PNG,
        'Policy expired',
      ],
    ])(
      'with %s is refused 403 as S3 refuses it, and nothing is stored',
      async (_case, fields, file, reason) => {
        // Act
        const answer = await post({ ...valid, ...fields }, file);

        // Assess
        expect(answer.status).toBe(403);
        expect(await answer.text()).toContain(reason);
        expect(fake.received).toEqual([]);
      },
    );
  });

  it('adds no CORS headers to a request without an Origin, as S3 does', async () => {
    // Act
    const answer = await fetch(`${loopback(proxy)}/bucket/key`);

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    expect(fake.received).toMatchObject([{ method: 'GET', url: '/bucket/key' }]);
  });

  it('refuses a Host that is not a name of loopback (DNS rebinding) and forwards nothing', async () => {
    // Prepare: a page of the attacker's name, which resolves to 127.0.0.1, reads the bucket same-origin.
    const port = new URL(proxy.endpoint).port;

    // Act
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request(`${loopback(proxy)}/bucket/key`, { headers: { host: `evil.example:${port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
        .once('error', reject)
        .end();
    });

    // Assess
    expect(status).toBe(403);
    expect(fake.arrived).toEqual([]);
  });

  it('stops while an upload is still arriving, so it never holds up the runtime', async () => {
    // Prepare: a PUT that announces 10 bytes and sends 3.
    const own = await startS3CorsProxy({ upstream: fake.url });
    const upload = request(`${loopback(own)}/bucket/slow`, {
      method: 'PUT',
      headers: { 'content-length': '10' },
    });
    // The hang-up is the expected end ('error', then 'close'), so only 'close' is awaited.
    upload.on('error', () => undefined);
    const closed = new Promise((resolve) => upload.once('close', resolve));
    upload.write('abc');
    await vi.waitFor(() => expect(fake.arrived).toEqual(['/bucket/slow']), { timeout: 10_000 });

    // Act
    await own.stop();

    // Assess
    await closed;
    expect(upload.destroyed).toBe(true);
  });
});

describe('the S3 CORS front against fauxqs', () => {
  const local = useSqsEmulator();
  let proxy: S3CorsProxy;
  let s3: S3Client;
  const bucket = 'cors-test-attachments';

  beforeAll(async () => {
    proxy = await startS3CorsProxy({ upstream: local().emulator.s3Endpoint });
    s3 = new S3Client({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: proxy.endpoint });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  afterAll(async () => {
    s3?.destroy();
    await proxy?.stop();
  });

  it('stores a presigned POST to the virtual-host bucket on the proxy port and serves it back with the signed type and disposition', async () => {
    // Prepare
    const bytes = Buffer.from('not really a png');
    const { url, fields } = await createPresignedPost(s3, {
      Bucket: bucket,
      Key: 'uploads/c1/k',
      Fields: { 'Content-Type': 'image/png' },
      Conditions: [
        ['eq', '$Content-Type', 'image/png'],
        ['content-length-range', bytes.length, bytes.length],
      ],
      Expires: 60,
    });
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append('file', new Blob([bytes]));

    // Act
    const stored = await fetch(url, { method: 'POST', headers: { origin: PAGE_ORIGIN }, body: form });
    const get = await getSignedUrl(
      s3,
      new GetObjectCommand({
        Bucket: bucket,
        Key: 'uploads/c1/k',
        ResponseContentType: 'image/png',
        ResponseContentDisposition: 'attachment; filename="k.png"',
      }),
      { expiresIn: 60 },
    );
    const got = await fetch(get, { headers: { origin: PAGE_ORIGIN } });

    // Assess
    expect(new URL(url).host).toBe(`${bucket}.${new URL(proxy.endpoint).host}`);
    expect(stored.status).toBe(204);
    expect(stored.headers.get('access-control-allow-origin')).toBe('*');
    expect(got.status).toBe(200);
    expect(got.headers.get('access-control-allow-origin')).toBe('*');
    expect(got.headers.get('content-type')).toBe('image/png');
    expect(got.headers.get('content-disposition')).toBe('attachment; filename="k.png"');
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await got.arrayBuffer())).toEqual(bytes);
  });
});
