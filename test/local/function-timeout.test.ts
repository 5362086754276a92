/**
 * Lambda stops a timed-out invocation for good. Locally every handler shares one process, so a timed-out
 * invocation would otherwise keep calling AWS and compete with the ones after it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FunctionTimeoutError, loadFunctions } from '../../local/functions';
import { observed } from './fixtures/busy-handler';

const ROOT = path.join(__dirname, '..', '..');
let server: Server;
let requests = 0;

beforeAll(async () => {
  // A stand-in DynamoDB endpoint that answers every call with an empty GetItem result and counts them.
  server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.0' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${port}`,
  });
});

afterAll(async () => {
  observed.quit = true;
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('a local invocation that times out', () => {
  it('is stopped: its next AWS call is refused and no request reaches the service after the timeout', async () => {
    // Prepare
    const functions = await loadFunctions(
      {
        busy: {
          entry: 'test/local/fixtures/busy-handler.ts',
          description: 'busy',
          tables: {},
          timeoutSeconds: 1,
        },
      },
      { root: ROOT, onLog: () => undefined },
    );

    // Act
    const invocation = functions.invoke('busy', {});
    await expect(invocation).rejects.toBeInstanceOf(FunctionTimeoutError);
    const requestsAtTimeout = requests;

    // Assess: the handler tried again and was refused; at most the request already in flight got through.
    await expect.poll(() => observed.refused, { timeout: 10_000 }).toBe(true);
    expect(requestsAtTimeout).toBeGreaterThan(10);
    expect(requests - requestsAtTimeout).toBeLessThanOrEqual(1);
  });
});
