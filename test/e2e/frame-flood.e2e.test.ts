/**
 * The per-connection frame cap (shared/frame-rate.ts) through the local runtime: a client that keeps
 * sending while it is refused is closed by the server through the management API, and only that
 * connection is.
 */
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { useLocalRuntime } from '../support/local-runtime';
import { connectAs, connectionStored, connectWithId } from './helpers';

const { runtime, track } = useLocalRuntime();

describe('a connection that floods frames without waiting for the answers', () => {
  it('is answered rate_limited and then closed by the server, while another connection of the same user keeps working', async () => {
    // Prepare
    const { client: flooder, connectionId } = await connectWithId(runtime(), 'flood-alice');
    await track(Promise.resolve(flooder));
    const other = await track(connectAs(runtime(), 'flood-alice'));
    const frames = LIMITS.connectionFrameBurst + LIMITS.connectionFramesRefusedBeforeClose + 100;

    // Act: every frame at once, none waiting for its answer.
    for (let n = 0; n < frames; n++) flooder.sendRaw(JSON.stringify({ action: 'ping', requestId: `f${n}` }));

    // Assess
    await expect.poll(() => flooder.closeCode, { timeout: 15_000 }).toBe(1000);
    const refusals = flooder.frames.filter((frame) => frame.code === 'rate_limited');
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals[0]).toMatchObject({ type: 'error', retryable: true, retryAfterMs: expect.any(Number) });
    await expect.poll(() => connectionStored(runtime(), connectionId), { timeout: 10_000 }).toBe(false);
    expect(await other.request({ action: 'ping' })).toMatchObject({ type: 'ack', action: 'ping' });
  });
});
