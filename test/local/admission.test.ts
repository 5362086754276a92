/**
 * The local runtime's admission control (local/admission.ts): a crowd larger than a function's cap
 * waits its turn, each invocation's deadline starting when it runs, so none misses it because of the
 * others in the same process; and a frame still waiting at API Gateway's integration timeout gets AWS's
 * "Endpoint request timed out" and never runs.
 */
import * as path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadFunctions } from '../../local/functions';
import { openClient, startTestApi, type TestClient } from './apigw-harness';
import { backend } from './fixtures/shared-backend-handler';

const ROOT = path.join(__dirname, '..', '..');
const CROWD = 300;

/** An emulator whose `$default` route runs the shared-backend fixture with `concurrency` slots. */
async function crowdApi(concurrency: number, integrationTimeoutMs?: number) {
  const functions = await loadFunctions(
    {
      crowd: {
        entry: 'test/local/fixtures/shared-backend-handler.ts',
        description: 'a route in front of a backend shared by the calls in it',
        tables: {},
        timeoutSeconds: 2,
      },
    },
    { root: ROOT, onLog: () => undefined, concurrency },
  );
  return startTestApi({
    routes: { $default: { invoke: functions.invoker('crowd'), twoWay: true } },
    ...(integrationTimeoutMs === undefined ? {} : { integrationTimeoutMs }),
  });
}

/** Opens `count` clients and sends one frame on each at the same moment. */
async function fireCrowd(url: string, count: number): Promise<TestClient[]> {
  const clients = await Promise.all(Array.from({ length: count }, () => openClient(url)));
  for (const [i, client] of clients.entries()) {
    client.ws.send(JSON.stringify({ action: 'work', requestId: `r${i}` }));
  }
  await expect
    .poll(() => clients.filter((client) => client.frames.length > 0).length, {
      timeout: 25_000,
      interval: 50,
    })
    .toBe(count);
  return clients;
}

const answers = (clients: TestClient[]) => clients.map((client) => JSON.parse(client.frames[0] ?? '{}'));

beforeEach(() => {
  Object.assign(backend, { workMs: 10, started: 0, busy: 0, acked: 0 });
});

describe('a crowd larger than a function cap', () => {
  it('is acked in full: each invocation waits its turn and its deadline starts when it runs', async () => {
    // Prepare
    const api = await crowdApi(4);

    // Act
    const clients = await fireCrowd(api.url, CROWD);

    // Assess
    const frames = answers(clients);
    expect(frames.filter((frame) => frame.type === 'ack')).toHaveLength(CROWD);
    expect(backend.busy).toBe(0);
    for (const client of clients) client.ws.close();
  }, 30_000);

  it('misses its deadlines when every invocation runs at once (the cap off)', async () => {
    // Prepare: 300 calls of 10 ms sharing the backend all finish after ~3 s, past the 1.5 s budget.
    const api = await crowdApi(Number.POSITIVE_INFINITY);

    // Act
    const clients = await fireCrowd(api.url, CROWD);

    // Assess
    const busy = answers(clients).filter((frame) => frame.code === 'busy');
    expect(busy.length).toBeGreaterThan(CROWD / 2);
    for (const client of clients) client.ws.close();
  }, 30_000);
});

describe('a frame still waiting at the integration timeout', () => {
  it('gets "Endpoint request timed out" once, and its invocation never runs', async () => {
    // Prepare: one slot, 100 frames of at least 10 ms each, an integration timeout of 300 ms.
    const api = await crowdApi(1, 300);

    // Act
    const clients = await fireCrowd(api.url, 100);

    // Assess
    const frames = answers(clients);
    const timedOut = frames.filter((frame) => frame.message === 'Endpoint request timed out');
    expect(timedOut.length).toBeGreaterThan(50);
    for (const frame of timedOut)
      expect(frame).toEqual(expect.objectContaining({ requestId: expect.any(String) }));
    expect(frames.filter((frame) => frame.type === 'ack').length + timedOut.length).toBe(100);
    // Most of those that waited past it were dropped from the line; a frame admitted just before its own
    // timeout still runs, and its answer is dropped.
    await expect.poll(() => backend.acked + backend.busy, { timeout: 10_000 }).toBe(backend.started);
    expect(backend.started).toBeLessThan(100 - timedOut.length / 2);
    expect(clients.every((client) => client.frames.length === 1)).toBe(true);
    for (const client of clients) client.ws.close();
  }, 30_000);
});
