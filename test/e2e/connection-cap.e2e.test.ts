/**
 * The per-user connection cap (LIMITS.maxConnectionsPerUser, shared/store/connections/slots.ts) through the
 * local runtime: `$connect` past it is refused 429 and stores nothing, other users are not affected, and
 * a closed connection gives its slot back.
 */
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { useLocalRuntime } from '../support/local-runtime';
import { type ChatClient, HandshakeRefusedError } from './chat-client';
import { connectAs } from './helpers';

const { runtime, track } = useLocalRuntime();

describe('the connections of one user', () => {
  it('are refused 429 past the cap, while another user connects, and a closed one gives its slot back', async () => {
    // Prepare
    const open: ChatClient[] = [];
    for (let n = 0; n < LIMITS.maxConnectionsPerUser; n++)
      open.push(await track(connectAs(runtime(), 'cap-alice')));
    const connectionsBefore = runtime().api.connectionIds().length;

    // Act
    const refused = await connectAs(runtime(), 'cap-alice').then(
      () => undefined,
      (err: unknown) => err,
    );
    const bob = await track(connectAs(runtime(), 'cap-bob'));

    // Assess
    expect(refused).toBeInstanceOf(HandshakeRefusedError);
    expect(refused).toMatchObject({ status: 429 });
    expect(runtime().api.connectionIds()).toHaveLength(connectionsBefore + 1);
    expect(await bob.request({ action: 'ping' })).toMatchObject({ type: 'ack' });
    for (const client of open)
      expect(await client.request({ action: 'ping' })).toMatchObject({ type: 'ack' });

    // Act: one of alice's connections closes; its $disconnect gives the slot back.
    await open[0]?.close();
    let again: ChatClient | undefined;
    await expect
      .poll(
        async () => {
          again = await connectAs(runtime(), 'cap-alice').catch(() => undefined);
          return again !== undefined;
        },
        { timeout: 15_000, interval: 250 },
      )
      .toBe(true);
    if (again !== undefined) await track(Promise.resolve(again));

    // Assess
    expect(await again?.request({ action: 'ping' })).toMatchObject({ type: 'ack' });
  }, 60_000);
});
