import { describe, expect, it } from 'vitest';
import type { ClientEvents, TokenRequest } from '../../client';
import { type FakeSocket, harness, settle } from './fakes';

const C = 'c1';

/** A client whose token provider records why it was asked and hands out `token-1`, `token-2`, … */
function withProvider(options: { tokens?: (n: number) => string; maxAuthRefusals?: number } = {}) {
  const asked: TokenRequest[] = [];
  const h = harness({
    token: undefined,
    tokenProvider: (request) => {
      asked.push(request);
      return options.tokens?.(asked.length) ?? `token-${asked.length}`;
    },
    ...(options.maxAuthRefusals === undefined ? {} : { maxAuthRefusals: options.maxAuthRefusals }),
  });
  const authFailed: ClientEvents['auth_failed'][] = [];
  h.chat.on('auth_failed', (event) => authFailed.push(event));
  return { ...h, asked, authFailed };
}

/** What Node's `ws` reports when the server answers the handshake 401, then the close that follows. */
function refuse(socket: FakeSocket, status = 401): void {
  socket.onerror?.({ message: `Unexpected server response: ${status}` });
  socket.drop();
}

/** A JWT-shaped token (unsigned: the SDK only reads its exp) expiring at `expSeconds` on the fake clock. */
function jwtExpiringAt(expSeconds: number): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part({ sub: 'alice', exp: expSeconds })}.signature`;
}

describe('tokens that end', () => {
  it('on token_expired reconnects at once with a fresh token, resubscribes after the last seq and resends the send', async () => {
    // Prepare
    const h = withProvider();
    const first = await h.connectNow();
    const stream = h.chat.conversation(C, { afterSeq: 0 });
    const seqs: number[] = [];
    stream.on('message', (message) => seqs.push(message.seq));
    await settle();
    first.ack(first.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 0 });
    first.push(C, 1);
    await h.clock.advance(60_000);
    const { acked } = h.chat.send(C, 'after the expiry');
    await settle();
    const refused = first.last('send');

    // Act
    first.error(refused, 'token_expired', {
      message: 'Your sign-in token expired; reconnect with a fresh one',
    });
    await h.clock.advance(0);
    const second = h.socket();
    second.open();
    await settle();

    // Assess
    expect(h.events).toContainEqual(['reconnecting', { attempt: 1, delayMs: 0, reason: 'token_expired' }]);
    expect(first.closedWith).toBe(1000);
    expect(h.asked).toEqual([
      { reason: 'connect', refusals: 0 },
      { reason: 'expired', refusals: 0 },
    ]);
    expect(second.url).toContain('token=token-2');
    expect(second.last('subscribe')).toMatchObject({ conversationId: C, afterSeq: 1 });
    const resent = second.last('send');
    expect(resent.clientMessageId).toBe(refused.clientMessageId);
    second.ack(second.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 1 });
    second.ack(resent, { conversationId: C, seq: 2, sentAt: 't2', duplicate: false });
    second.push(C, 2);
    await expect(acked).resolves.toMatchObject({ seq: 2 });
    await settle();
    expect(seqs).toEqual([1, 2]);
  });

  it('treats a token_expired answer to the keepalive like any other: a fresh token and a new socket', async () => {
    // Prepare
    const h = withProvider();
    const first = await h.connectNow();
    await h.clock.advance(60_000);

    // Act
    first.receive({
      type: 'error',
      requestId: 'keepalive',
      code: 'token_expired',
      message: 'expired',
      retryable: false,
    });
    await h.clock.advance(0);

    // Assess
    expect(h.sockets).toHaveLength(2);
    expect(h.asked.at(-1)).toEqual({ reason: 'expired', refusals: 0 });
  });

  it('waits its backoff when token_expired comes right after opening: the token was stale, and at once could loop', async () => {
    // Prepare
    const h = withProvider();
    const first = await h.connectNow();

    // Act
    first.receive({
      type: 'error',
      requestId: '1',
      code: 'token_expired',
      message: 'expired',
      retryable: false,
    });
    await h.clock.advance(0);

    // Assess
    expect(h.events.at(-1)).toEqual(['reconnecting', { attempt: 1, delayMs: 500, reason: 'token_expired' }]);
    expect(h.sockets).toHaveLength(1);
    await h.clock.advance(500);
    expect(h.sockets).toHaveLength(2);
    expect(h.asked.at(-1)).toEqual({ reason: 'expired', refusals: 0 });
  });

  it('says expired when a socket is lost after its JWT exp, and reconnect when lost before it', async () => {
    // Prepare
    const h = withProvider({ tokens: () => jwtExpiringAt(10) });
    await h.connectNow();

    // Act
    await h.clock.advance(5_000);
    h.socket().drop();
    await h.clock.advance(1_000);
    h.socket().open();
    await h.clock.advance(10_000);
    h.socket().drop();
    await h.clock.advance(2_000);

    // Assess
    expect(h.asked.map((request) => request.reason)).toEqual(['connect', 'reconnect', 'expired']);
  });

  it('tells the provider the last token was refused, and after 3 refusals in a row tells the app to sign in again', async () => {
    // Prepare
    const h = withProvider();
    await settle();

    // Act
    for (let refusal = 0; refusal < 4; refusal++) {
      refuse(h.socket(), refusal === 3 ? 403 : 401);
      await h.clock.advance(60_000);
    }

    // Assess
    expect(h.asked).toEqual([
      { reason: 'connect', refusals: 0 },
      { reason: 'refused', refusals: 1 },
      { reason: 'refused', refusals: 2 },
      { reason: 'refused', refusals: 3 },
      { reason: 'refused', refusals: 4 },
    ]);
    expect(h.authFailed).toEqual([
      { refusals: 3, message: 'The server refused the sign-in 3 times in a row: sign in again.' },
    ]);
    expect(h.chat.state).toBe('connecting');
    expect(h.events).toContainEqual(['reconnecting', expect.objectContaining({ reason: 'refused' })]);
  });

  it('starts counting refusals over once a handshake is accepted', async () => {
    // Prepare
    const h = withProvider({ maxAuthRefusals: 2 });
    await settle();
    refuse(h.socket());
    await h.clock.advance(60_000);
    h.socket().open();
    await settle();

    // Act
    h.socket().drop();
    await h.clock.advance(60_000);
    refuse(h.socket());
    await h.clock.advance(60_000);

    // Assess
    expect(h.asked.map(({ reason, refusals }) => `${reason}:${refusals}`)).toEqual([
      'connect:0',
      'refused:1',
      'reconnect:0',
      'refused:1',
    ]);
    expect(h.authFailed).toEqual([]);
  });

  it('does not count a handshake that failed without a 401 or 403 as refused', async () => {
    // Prepare
    const h = withProvider({ maxAuthRefusals: 1 });
    await settle();

    // Act
    h.socket().onerror?.({ message: 'connect ECONNREFUSED 127.0.0.1:3001' });
    h.socket().drop();
    await h.clock.advance(60_000);

    // Assess
    expect(h.asked.at(-1)).toEqual({ reason: 'reconnect', refusals: 0 });
    expect(h.authFailed).toEqual([]);
  });

  it('closes with auth_failed when a fixed token is refused maxAuthRefusals times in a row', async () => {
    // Prepare
    const h = harness({ maxAuthRefusals: 2 });
    const authFailed: ClientEvents['auth_failed'][] = [];
    h.chat.on('auth_failed', (event) => authFailed.push(event));
    await settle();

    // Act
    refuse(h.socket());
    await h.clock.advance(60_000);
    refuse(h.socket());
    await h.clock.advance(60_000);

    // Assess
    expect(authFailed).toEqual([{ refusals: 2, message: expect.stringMatching(/sign in again/) }]);
    expect(h.events.at(-1)).toEqual(['closed', { reason: 'auth_failed' }]);
    expect(h.sockets).toHaveLength(2);
  });
});
