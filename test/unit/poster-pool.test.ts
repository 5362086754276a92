/**
 * The management client's socket pool is never what posts wait for: the local runtime runs every
 * invocation of a function in one process, sharing one client, and a post that waits for a socket spends
 * its own timeouts waiting (connections evicted for the wait, not for the connection).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createManagementClient } from '../../shared/poster';

const servers: ReturnType<typeof createServer>[] = [];

afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A management API that answers no post until `count` of them are open at once, then answers them all. */
async function apiAnsweringOnce(count: number): Promise<{ endpoint: string; peak: () => number }> {
  const waiting: ServerResponse[] = [];
  let peak = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    request.on('end', () => {
      waiting.push(response);
      peak = Math.max(peak, waiting.length);
      if (waiting.length < count) return;
      for (const held of waiting.splice(0)) held.writeHead(200).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, peak: () => peak };
}

describe('the management client', () => {
  it('keeps more posts open at once than the SDK pool’s default 50 sockets', async () => {
    // Prepare
    const posts = 80;
    const api = await apiAnsweringOnce(posts);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    const client = createManagementClient(api.endpoint);

    // Act
    const outcomes = await Promise.allSettled(
      Array.from({ length: posts }, (_, i) =>
        client.send(new PostToConnectionCommand({ ConnectionId: `conn-${i}`, Data: 'hi' })),
      ),
    );

    // Assess
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    expect(api.peak()).toBe(posts);
  });
});
