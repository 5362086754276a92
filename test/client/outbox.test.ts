import { describe, expect, it } from 'vitest';
import { localStorageOutboxStore, MemoryOutboxStore, type OutboxEvent, type StorageLike } from '../../client';
import { harness, settle } from './fakes';

const C = 'c1';
const ackFor = (seq: number) => ({ conversationId: C, seq, sentAt: `t${seq}`, duplicate: false });

/** A stand-in for the browser's localStorage. */
class FakeStorage implements StorageLike {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

const statuses = (events: Array<[string, unknown]>) =>
  events
    .filter(([type]) => type === 'outbox')
    .map(([, e]) => `${(e as OutboxEvent).entry.clientMessageId}:${(e as OutboxEvent).status}`);

describe('outbox', () => {
  it('shows a message as pending at once, with the clientMessageId it assigned', async () => {
    const store = new MemoryOutboxStore();
    const h = harness({ outboxStore: store });

    const { clientMessageId } = h.chat.send(C, 'hello');

    expect(clientMessageId).toBe('m1');
    expect(statuses(h.events)).toEqual(['m1:pending']);
    expect(h.chat.outbox(C)).toMatchObject([{ clientMessageId: 'm1', body: 'hello', status: 'pending' }]);
    await settle();
    expect(store.load()).toMatchObject([{ clientMessageId: 'm1', status: 'pending' }]);
  });

  it('marks it sent and forgets it once acked', async () => {
    const store = new MemoryOutboxStore();
    const h = harness({ outboxStore: store });
    const socket = await h.connectNow();
    const { acked } = h.chat.send(C, 'hello');
    await settle();

    socket.ack(socket.last('send'), ackFor(1));

    await expect(acked).resolves.toEqual(ackFor(1));
    expect(statuses(h.events)).toEqual(['m1:pending', 'm1:sent']);
    expect(h.chat.outbox()).toEqual([]);
    expect(store.load()).toEqual([]);
  });

  it('resends with the same clientMessageId across reconnects until acked', async () => {
    const h = harness();
    const { acked } = h.chat.send(C, 'hello');
    await h.connectNow();

    for (let drop = 0; drop < 2; drop++) {
      h.socket().drop();
      await h.clock.advance(30_000);
      h.socket().open();
      await settle();
    }
    h.socket().ack(h.socket().last('send'), { ...ackFor(4), duplicate: true });

    const sends = h.sockets.flatMap((s) => s.frames('send'));
    expect(sends.map((f) => f.clientMessageId)).toEqual(['m1', 'm1', 'm1']);
    await expect(acked).resolves.toMatchObject({ seq: 4 });
  });

  it('resumes unsent messages after a reload: a new client over the same store sends them', async () => {
    const storage = new FakeStorage();
    const before = harness({ outboxStore: localStorageOutboxStore('outbox:alice', storage) });
    before.chat.send(C, 'first');
    before.chat.send(C, 'second');
    await settle();
    before.chat.close(); // the page is reloaded before either was acked

    const after = harness({
      outboxStore: localStorageOutboxStore('outbox:alice', storage),
      newId: () => 'new',
    });
    const socket = await after.connectNow();
    socket.ack(socket.last('send'), ackFor(1));
    await settle();
    socket.ack(socket.last('send'), ackFor(2));
    await settle();

    expect(statuses(after.events)).toEqual(['m1:pending', 'm2:pending', 'm1:sent', 'm2:sent']);
    expect(socket.frames('send').map((f) => [f.clientMessageId, f.body])).toEqual([
      ['m1', 'first'],
      ['m2', 'second'],
    ]);
    expect(JSON.parse(storage.getItem('outbox:alice') ?? '')).toEqual([]);
  });

  it('keeps a message typed before the store finished loading after the restored ones', async () => {
    const store = new MemoryOutboxStore();
    store.save([{ clientMessageId: 'old', conversationId: C, body: 'old', createdAt: 0, status: 'pending' }]);
    const h = harness({ outboxStore: { load: async () => store.load(), save: (e) => store.save(e) } });

    h.chat.send(C, 'new');
    await settle();

    expect(store.load().map((e) => e.clientMessageId)).toEqual(['old', 'm1']);
  });

  it('sends one message at a time per conversation, so they keep the order they were typed', async () => {
    const h = harness();
    const socket = await h.connectNow();
    h.chat.send(C, 'one');
    h.chat.send(C, 'two');
    h.chat.send('c2', 'elsewhere');
    await settle();

    expect(socket.frames('send').map((f) => f.body)).toEqual(['one', 'elsewhere']);
    socket.ack(socket.last('send', 0), ackFor(1));
    await settle();
    expect(socket.frames('send').map((f) => f.body)).toEqual(['one', 'elsewhere', 'two']);
  });

  it('fails a message only on a permanent error, keeps it, and can retry it with the same id', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const { acked } = h.chat.send(C, 'hello');
    await settle();

    socket.error(socket.last('send'), 'forbidden');
    await expect(acked).rejects.toMatchObject({ code: 'forbidden' });
    expect(h.chat.outbox()).toMatchObject([{ status: 'failed', error: { code: 'forbidden' } }]);
    const retried = h.chat.retry('m1');
    await settle();
    socket.ack(socket.last('send'), ackFor(1));

    await expect(retried).resolves.toMatchObject({ seq: 1 });
    expect(socket.frames('send').map((f) => f.clientMessageId)).toEqual(['m1', 'm1']);
    expect(statuses(h.events)).toEqual(['m1:pending', 'm1:failed', 'm1:pending', 'm1:sent']);
  });

  it('fails a body the server can never accept without sending it', async () => {
    const h = harness();
    const socket = await h.connectNow();

    const tooLong = h.chat.send(C, 'x'.repeat(16 * 1024 + 1));
    const empty = h.chat.send(C, '');
    const loneSurrogate = h.chat.send(C, '\ud800');
    await settle();

    await expect(tooLong.acked).rejects.toMatchObject({ code: 'payload_too_large' });
    await expect(empty.acked).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(loneSurrogate.acked).rejects.toMatchObject({ code: 'invalid_request' });
    expect(socket.frames('send')).toEqual([]);
    expect(h.chat.discard(tooLong.clientMessageId)).toBe(true);
    expect(h.chat.outbox().map((e) => e.clientMessageId)).toEqual([
      empty.clientMessageId,
      loneSurrogate.clientMessageId,
    ]);
  });

  it('keeps pending messages in the store when the client is closed', async () => {
    const store = new MemoryOutboxStore();
    const h = harness({ outboxStore: store });
    await h.connectNow();
    const { acked } = h.chat.send(C, 'hello');
    await settle();

    h.chat.close();

    await expect(acked).rejects.toMatchObject({ code: 'closed' });
    expect(store.load()).toMatchObject([{ clientMessageId: 'm1', status: 'pending' }]);
  });

  it('reads nothing from unreadable localStorage instead of failing', () => {
    const storage = new FakeStorage();
    storage.setItem('k', '{not json');
    storage.setItem('k2', JSON.stringify([{ clientMessageId: 'x' }, 'junk']));

    expect(localStorageOutboxStore('k', storage).load()).toEqual([]);
    expect(localStorageOutboxStore('k2', storage).load()).toEqual([]);
  });
});
