/** A route added to the wiring is served locally; test/infra/route-parity.test.ts holds the route table. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_WIRING } from '../../local/runtime';
import { useLocalRuntime } from '../support/local-runtime';
import { connectAs } from './helpers';

describe('a route added to the wiring', () => {
  const { runtime, track } = useLocalRuntime({
    wiring: {
      ...DEFAULT_WIRING,
      functions: {
        ...DEFAULT_WIRING.functions,
        ping: {
          entry: 'test/e2e/fixtures/ping-handler.ts',
          description: 'test route',
          tables: {},
          // Like every function behind a two-way route: its route kit closes flooding connections.
          managementApi: true,
        },
      },
      routes: { ...DEFAULT_WIRING.routes, ping: 'ping' },
    },
  });

  it('is served locally with no edit of the local runtime', async () => {
    const client = await track(connectAs(runtime(), 'alice'));

    const reply = await client.request({ action: 'ping' });

    expect(reply).toMatchObject({ type: 'ack', action: 'ping', pong: 'alice' });
  });
});
