import { describe, expect, it } from 'vitest';
import { connect } from '../../client';
import { FakeSocket, harness, settle } from './fakes';

const C = 'c1';

describe('connection state machine', () => {
  it('reports connecting, open, reconnecting with attempt and delay, and open again', async () => {
    const h = harness();
    const first = await h.connectNow();

    first.drop();
    await h.clock.advance(500);
    h.socket().open();
    await settle();

    expect(h.events.map(([type, event]) => [type, event])).toEqual([
      ['connecting', { attempt: 0 }],
      ['open', { attempt: 0 }],
      ['reconnecting', { attempt: 1, delayMs: 500, reason: 'lost' }],
      ['connecting', { attempt: 1 }],
      ['open', { attempt: 1 }],
    ]);
    expect(h.chat.state).toBe('open');
  });

  it('waits a full-jitter delay below a ceiling that doubles per failed attempt, up to the maximum', async () => {
    const draws = [0.999_999, 0, 0.999_999, 0.999_999, 0.999_999, 0.999_999];
    const h = harness({
      random: () => draws.shift() ?? 0.5,
      backoff: { baseDelayMs: 1_000, maxDelayMs: 8_000 },
    });
    await h.connectNow();

    for (let i = 0; i < 6; i++) {
      h.socket().drop();
      const [, { delayMs }] = h.events.at(-1) as ['reconnecting', { delayMs: number }];
      const sockets = h.sockets.length;
      if (delayMs > 0) {
        await h.clock.advance(delayMs - 1);
        expect(h.sockets).toHaveLength(sockets); // not a moment early
      }
      await h.clock.advance(delayMs > 0 ? 1 : 0);
      expect(h.sockets).toHaveLength(sockets + 1);
    }

    const delays = h.events.filter(([type]) => type === 'reconnecting').map(([, e]) => e);
    expect(delays).toEqual([1, 2, 3, 4, 5, 6].map((attempt) => expect.objectContaining({ attempt })));
    expect(delays.map((e) => (e as { delayMs: number }).delayMs)).toEqual([
      999, 0, 3_999, 7_999, 7_999, 7_999,
    ]);
  });

  it('starts the backoff over once a connection has stayed open a minute', async () => {
    const h = harness();
    await h.connectNow();
    h.socket().drop();
    await h.clock.advance(1_000);
    h.socket().open();
    await h.clock.advance(60_000);

    h.socket().drop();

    expect(h.events.at(-1)).toEqual(['reconnecting', { attempt: 1, delayMs: 500, reason: 'lost' }]);
  });

  it('asks the token provider for a fresh token on every connection attempt', async () => {
    const tokens = ['first', 'second token', 'third'];
    const h = harness({ token: undefined, tokenProvider: async () => tokens.shift() ?? 'none' });
    await h.connectNow();

    h.socket().drop();
    await h.clock.advance(1_000);
    h.socket().drop(); // the handshake was refused: close before open
    await h.clock.advance(2_000);

    expect(h.sockets.map((s) => new URL(s.url).searchParams.get('token'))).toEqual([
      'first',
      'second token',
      'third',
    ]);
    expect(h.socket().url).toBe('ws://chat.test/local?token=third');
  });

  it('retries with backoff when the token provider fails', async () => {
    let calls = 0;
    const h = harness({
      token: undefined,
      tokenProvider: () => {
        calls++;
        if (calls === 1) throw new Error('token service down');
        return 'ok';
      },
    });
    await settle();

    expect(h.sockets).toHaveLength(0);
    expect(h.events.map(([type]) => type)).toEqual(['connecting', 'error', 'reconnecting']);
    await h.clock.advance(500);
    expect(h.socket().url).toContain('token=ok');
  });

  it('gives up after maxReconnectAttempts failures in a row', async () => {
    const h = harness({ maxReconnectAttempts: 2 });
    await settle();

    h.socket().drop();
    await h.clock.advance(1_000);
    h.socket().drop();
    await h.clock.advance(2_000);
    h.socket().drop();
    await h.clock.advance(60_000);

    expect(h.events.at(-1)).toEqual(['closed', { reason: 'gave_up' }]);
    expect(h.sockets).toHaveLength(3);
  });

  it('sends a keepalive after keepaliveMs without sending anything, and none while it sends', async () => {
    const h = harness({ keepaliveMs: 300_000 });
    const socket = await h.connectNow();

    await h.clock.advance(200_000);
    void h.chat.history(C);
    await settle();
    socket.ack(socket.last('history'), { conversationId: C, messages: [], hasMore: false, lastSeq: 0 });
    await h.clock.advance(299_999);
    expect(socket.frames('ping')).toEqual([]);
    await h.clock.advance(1);

    expect(socket.frames('ping')).toEqual([{ action: 'ping', requestId: 'keepalive' }]);
  });

  it('keeps a connection whose keepalive is answered, even with unknown_action', async () => {
    const h = harness({ keepaliveMs: 300_000 });
    const socket = await h.connectNow();
    await h.clock.advance(300_000);

    socket.receive({
      type: 'error',
      requestId: 'keepalive',
      code: 'unknown_action',
      message: 'Unknown action "ping"',
      retryable: false,
    });
    await h.clock.advance(60_000);

    expect(h.sockets).toHaveLength(1);
    expect(socket.closedWith).toBeUndefined();
  });

  it('replaces a connection that does not answer its keepalive (a half-open socket)', async () => {
    const h = harness({ keepaliveMs: 300_000, requestTimeoutMs: 15_000 });
    const socket = await h.connectNow();

    await h.clock.advance(300_000 + 15_000);

    expect(socket.closedWith).toBe(1000);
    expect(h.events.at(-1)).toEqual(['reconnecting', { attempt: 1, delayMs: 500, reason: 'no_answer' }]);
  });

  it('reconnects on its own before API Gateway closes the connection at 2 hours, and resumes its streams', async () => {
    const h = harness({ maxConnectionMs: 110 * 60_000, keepaliveMs: 3 * 60 * 60_000 });
    const socket = await h.connectNow();
    h.chat.conversation(C, { afterSeq: 0 });
    await settle();
    socket.ack(socket.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 0 });
    socket.push(C, 1);

    await h.clock.advance(110 * 60_000 - 1);
    expect(h.sockets).toHaveLength(1);
    await h.clock.advance(1);
    expect(socket.closedWith).toBe(1000);
    expect(h.events.at(-2)).toEqual(['reconnecting', { attempt: 1, delayMs: 0, reason: 'max_age' }]);
    expect(h.sockets).toHaveLength(2);
    h.socket().open();
    await settle();

    expect(h.socket().last('subscribe')).toMatchObject({ conversationId: C, afterSeq: 1 });
  });

  it('closes for good: no reconnect, pending requests rejected', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const history = h.chat.history(C);

    h.chat.close();

    await expect(history).rejects.toMatchObject({ code: 'closed' });
    await h.clock.advance(10 * 60_000);
    expect(socket.closedWith).toBe(1000);
    expect(h.sockets).toHaveLength(1);
    expect(h.events.at(-1)).toEqual(['closed', { reason: 'client' }]);
  });

  it('uses the global WebSocket when none is passed', async () => {
    const made: string[] = [];
    const global = globalThis as { WebSocket?: unknown };
    const saved = global.WebSocket;
    global.WebSocket = class extends FakeSocket {
      constructor(url: string) {
        super(url);
        made.push(url);
      }
    };
    try {
      const chat = connect({ url: 'wss://example.test/prod', token: 'jwt' });
      await settle();
      chat.close();
    } finally {
      global.WebSocket = saved;
    }

    expect(made).toEqual(['wss://example.test/prod?token=jwt']);
  });
});
