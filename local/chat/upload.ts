/** What `/attach` needs: a file's attachment type, and an upload that reaches the local S3 too. */
import * as http from 'node:http';
import * as path from 'node:path';
import type { AttachmentContentType, ConnectOptions } from '../../client';

/** The attachment type the server takes for a file name, by its extension; undefined for any other. */
export function contentTypeOf(file: string): AttachmentContentType | undefined {
  const types: Record<string, AttachmentContentType> = {
    '.png': 'image/png',
    '.jpg': 'image/jpeg',
    '.jpeg': 'image/jpeg',
    '.gif': 'image/gif',
    '.webp': 'image/webp',
    '.pdf': 'application/pdf',
  };
  return types[path.extname(file).toLowerCase()];
}

/**
 * The upload for `attach`: Node's `fetch`, except for a `*.localhost` URL (the local S3 signs
 * `http://<bucket>.s3.localhost:<port>`), which goes to loopback with its Host header: RFC 6761 makes
 * those names loopback, but glibc does not resolve them (browsers and the runtime's process do).
 */
export const uploadFetch: NonNullable<ConnectOptions['fetch']> = async (url, init) => {
  const target = new URL(url);
  if (target.protocol !== 'http:' || !/(^|\.)localhost$/.test(target.hostname))
    return fetch(url, init as RequestInit);
  // The multipart encoding fetch would send, with its boundary in the content type.
  const form = new Response(init.body);
  const body = new Uint8Array(await form.arrayBuffer());
  const contentType = form.headers.get('content-type') ?? 'multipart/form-data';
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port: target.port || 80,
        path: `${target.pathname}${target.search}`,
        method: init.method,
        headers: { 'content-type': contentType, 'content-length': body.byteLength, host: target.host },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ ok: status >= 200 && status < 300, status, text: async () => text });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
};
