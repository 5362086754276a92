/**
 * A handshake refused because the user has the most connections allowed (HTTP 429 from `$connect`,
 * LIMITS.maxConnectionsPerUser): the SDK says so in its own reason, keeps retrying with backoff, and
 * never takes it for a refused token.
 */
import { describe, expect, it } from 'vitest';
import type { ClientEvents, TokenRequest } from '../../client';
import { harness, settle } from './fakes';

describe('a user at the connection cap', () => {
  it('reconnects with backoff giving too_many_connections as the reason, and never reports auth_failed', async () => {
    // Prepare
    const asked: TokenRequest[] = [];
    const h = harness({
      token: undefined,
      tokenProvider: (request) => {
        asked.push(request);
        return 'token';
      },
    });
    const authFailed: ClientEvents['auth_failed'][] = [];
    h.chat.on('auth_failed', (event) => authFailed.push(event));
    await settle();

    // Act: what Node's `ws` reports when `$connect` answers 429, four times in a row.
    for (let refusal = 0; refusal < 4; refusal++) {
      const socket = h.socket();
      socket.onerror?.({ message: 'Unexpected server response: 429' });
      socket.drop();
      await h.clock.advance(60_000);
    }

    // Assess
    const reasons = h.events.filter(([type]) => type === 'reconnecting').map(([, event]) => event);
    expect(reasons).toHaveLength(4);
    for (const event of reasons) expect(event).toMatchObject({ reason: 'too_many_connections' });
    expect(authFailed).toEqual([]);
    expect(asked.map((request) => request.reason)).not.toContain('refused');
  });
});
