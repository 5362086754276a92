import { afterEach, describe, expect, it } from 'vitest';
import { localStorageOutboxStore, MemoryOutboxStore, type OutboxEvent, type StorageLike } from '../../client';
import { type FakeSocket, harness, settle } from './fakes';

const C = 'c1';
const KEY = `conversations/${C}/00000000-0000-4000-8000-000000000001`;
const UPLOAD_KEY = `uploads/${C}/00000000-0000-4000-8000-000000000001`;
const attachment = { key: KEY, contentType: 'image/png', size: 3 };
const picture = { data: new Uint8Array([1, 2, 3]), contentType: 'image/png' as const, name: 'dot.png' };
const ackFor = (seq: number) => ({ conversationId: C, seq, sentAt: `t${seq}`, duplicate: false });
const uploaded = async () => ({ ok: true, status: 204 });

/** Answers the uploads' requests: the presigned POSTs, then (after the POSTs) the confirmations. */
async function answerUpload(socket: FakeSocket): Promise<void> {
  await settle();
  for (const ask of socket.frames('uploadUrl'))
    socket.ack(ask, { url: 'u', key: UPLOAD_KEY, method: 'POST', fields: {}, expiresAt: 'x' });
  await settle();
  for (const confirm of socket.frames('confirmUpload')) socket.ack(confirm, { attachment });
  await settle();
}

const outboxEvents = (events: Array<[string, unknown]>) =>
  events.filter(([type]) => type === 'outbox').map(([, e]) => e as OutboxEvent);

class FakeStorage implements StorageLike {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

describe('send answers a PendingSend', () => {
  const unhandled: unknown[] = [];
  const record = (reason: unknown) => unhandled.push(reason);
  afterEach(() => {
    process.off('unhandledRejection', record);
  });

  it('is a promise of the ack, with the clientMessageId at once and `acked` for older code', async () => {
    const h = harness();
    const socket = await h.connectNow();

    const sent = h.chat.send(C, 'hello');
    await settle();
    socket.ack(socket.last('send'), ackFor(1));

    expect(sent.clientMessageId).toBe('m1');
    await expect(sent).resolves.toEqual(ackFor(1));
    await expect(sent.acked).resolves.toEqual(ackFor(1));
  });

  it('does not crash Node when a rejection is never awaited (refused, cancelled, closed)', async () => {
    process.on('unhandledRejection', record);
    const h = harness();
    const socket = await h.connectNow();

    h.chat.send(C, '');
    h.chat.send(C, 'refused');
    h.chat.attach(C, new Uint8Array([1]), 'image/png');
    h.chat.send('c2', 'first');
    const deleted = h.chat.send('c2', 'deleted');
    await h.chat.delete('c2', deleted.clientMessageId);
    await settle();
    socket.error(socket.last('send'), 'forbidden');
    h.chat.send('c3', 'closed');
    h.chat.close();
    for (let i = 0; i < 5; i++) await settle();

    expect(unhandled).toEqual([]);
  });
});

describe('attachments in the outbox', () => {
  it('takes its place when typed: later messages wait behind its upload and are sent after it', async () => {
    const h = harness({ fetch: uploaded });
    const socket = await h.connectNow();

    const withPicture = h.chat.send(C, 'here is the picture', { file: picture });
    const text = h.chat.send(C, 'see the picture above?');
    await settle();

    expect(h.chat.outbox(C)).toMatchObject([
      {
        body: 'here is the picture',
        uploading: true,
        file: { contentType: 'image/png', size: 3, name: 'dot.png' },
      },
      { body: 'see the picture above?' },
    ]);
    expect(h.chat.outbox(C)[0]).not.toHaveProperty('data');
    expect(socket.frames('send')).toEqual([]);
    await answerUpload(socket);
    expect(socket.frames('send').map((f) => [f.body, f.attachment])).toEqual([
      ['here is the picture', attachment],
    ]);
    expect(h.chat.outbox(C)[0]).not.toHaveProperty('uploading');
    socket.ack(socket.last('send'), ackFor(1));
    await settle();
    socket.ack(socket.last('send'), ackFor(2));

    await expect(withPicture).resolves.toMatchObject({ seq: 1, attachment });
    await expect(text).resolves.toMatchObject({ seq: 2 });
    expect(socket.frames('send').map((f) => f.body)).toEqual([
      'here is the picture',
      'see the picture above?',
    ]);
    expect(outboxEvents(h.events).map((e) => `${e.entry.clientMessageId}:${e.status}`)).toEqual([
      'm1:pending',
      'm2:pending',
      'm1:pending', // uploaded: `uploading` is gone, `attachment` is set
      'm1:sent',
      'm2:sent',
    ]);
  });

  it('makes an entry whose upload is refused `failed`, in words, keeps it, and moves the queue on', async () => {
    const h = harness({ fetch: async () => ({ ok: false, status: 403 }) });
    const socket = await h.connectNow();

    const withPicture = h.chat.send(C, '', { file: picture });
    h.chat.send(C, 'after it');
    await settle();
    socket.ack(socket.last('uploadUrl'), {
      url: 'u',
      key: UPLOAD_KEY,
      method: 'POST',
      fields: {},
      expiresAt: 'x',
    });

    await expect(withPicture).rejects.toThrow('dot.png was not uploaded: the upload failed with HTTP 403');
    await settle();
    expect(socket.frames('send').map((f) => f.body)).toEqual(['after it']);
    expect(h.chat.outbox(C)).toMatchObject([
      { body: 'dot.png', status: 'failed', uploading: true, error: { message: /dot.png was not uploaded/ } },
      { body: 'after it', status: 'pending' },
    ]);
  });

  it('uploads a failed file again on retry, with the same clientMessageId', async () => {
    let refuse = true;
    const h = harness({
      fetch: async () => (refuse ? { ok: false, status: 500 } : { ok: true, status: 204 }),
    });
    const socket = await h.connectNow();
    const first = h.chat.send(C, 'picture', { file: picture });
    await answerUpload(socket);
    await expect(first).rejects.toThrow(/HTTP 500/);

    refuse = false;
    const retried = h.chat.retry(first.clientMessageId);
    await answerUpload(socket);
    socket.ack(socket.last('send'), ackFor(1));

    await expect(retried).resolves.toMatchObject({ seq: 1, attachment });
    expect(socket.frames('uploadUrl')).toHaveLength(2);
    expect(socket.frames('send').map((f) => [f.clientMessageId, f.attachment])).toEqual([['m1', attachment]]);
    expect(h.chat.outbox()).toEqual([]);
  });

  it('fails an unfinished upload restored from a store that kept no bytes, with what to do', async () => {
    const storage = new FakeStorage();
    const before = harness({ outboxStore: localStorageOutboxStore('k', storage), fetch: uploaded });
    await before.connectNow();
    before.chat.send(C, 'picture', { file: picture });
    await settle();
    before.chat.close(); // the page is reloaded while the file uploads

    const after = harness({ outboxStore: localStorageOutboxStore('k', storage), fetch: uploaded });
    const socket = await after.connectNow();

    expect(outboxEvents(after.events)).toMatchObject([
      {
        status: 'failed',
        entry: { clientMessageId: 'm1', body: 'picture', file: { name: 'dot.png' } },
        error: { message: 'The file was not uploaded before the app closed; attach it again' },
      },
    ]);
    expect(socket.frames('uploadUrl')).toEqual([]);
    expect(after.chat.outbox()).toMatchObject([{ status: 'failed' }]);
  });

  it('resumes an unfinished upload restored from a store that kept the bytes', async () => {
    const store = new MemoryOutboxStore();
    const before = harness({ outboxStore: store, fetch: uploaded });
    before.chat.send(C, 'picture', { file: picture });
    await settle();
    before.chat.close();

    const after = harness({ outboxStore: store, fetch: uploaded });
    const socket = await after.connectNow();
    await answerUpload(socket);

    expect(socket.last('uploadUrl')).toMatchObject({ size: 3 });
    expect(socket.last('send')).toMatchObject({ clientMessageId: 'm1', body: 'picture', attachment });
  });
});

describe('edit and delete by clientMessageId', () => {
  it('changes the body of a message not sent yet, so it is sent with the new body', async () => {
    const h = harness();
    const socket = await h.connectNow();
    h.chat.send(C, 'first');
    const second = h.chat.send(C, 'secnod');
    await settle();

    await expect(h.chat.edit(C, second.clientMessageId, 'second')).resolves.toEqual({
      conversationId: C,
      clientMessageId: 'm2',
      inOutbox: true,
    });
    socket.ack(socket.last('send'), ackFor(1));
    await settle();

    expect(socket.frames('send').map((f) => f.body)).toEqual(['first', 'second']);
    expect(socket.frames('edit')).toEqual([]);
    expect(outboxEvents(h.events).at(-2)).toMatchObject({ status: 'pending', entry: { body: 'second' } });
  });

  it('removes a message not sent yet: never sent, and its send rejects `cancelled`', async () => {
    const store = new MemoryOutboxStore();
    const h = harness({ outboxStore: store });
    const socket = await h.connectNow();
    h.chat.send(C, 'first');
    const oops = h.chat.send(C, 'oops');
    h.chat.send(C, 'third');
    await settle();

    await h.chat.delete(C, oops.clientMessageId);
    await expect(oops).rejects.toMatchObject({ code: 'cancelled' });
    socket.ack(socket.last('send'), ackFor(1));
    await settle();

    expect(socket.frames('send').map((f) => f.body)).toEqual(['first', 'third']);
    expect(store.load().map((e) => e.body)).toEqual(['third']);
  });

  it('edits or deletes a message whose upload is still going before it is sent', async () => {
    const h = harness({ fetch: uploaded });
    const socket = await h.connectNow();
    const captioned = h.chat.send(C, 'caption', { file: picture });
    const other = h.chat.send('c2', 'x', { file: picture });
    await settle();

    await h.chat.edit(C, captioned.clientMessageId, 'better caption');
    await h.chat.delete('c2', other.clientMessageId);
    await answerUpload(socket);

    expect(socket.frames('send').map((f) => [f.conversationId, f.body])).toEqual([[C, 'better caption']]);
  });

  it('edits a message on the wire right after its ack, by the seq the ack names', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const sent = h.chat.send(C, 'helo');
    await settle();

    const edited = h.chat.edit(C, sent.clientMessageId, 'hello');
    await settle();
    expect(socket.frames('edit')).toEqual([]);
    socket.ack(socket.last('send'), ackFor(7));
    await settle();
    expect(socket.last('edit')).toMatchObject({ conversationId: C, seq: 7, body: 'hello' });
    socket.ack(socket.last('edit'), { conversationId: C, seq: 7, version: 2, duplicate: false });

    await expect(edited).resolves.toMatchObject({ seq: 7, version: 2 });
  });

  it('applies a change waiting on the wire to the outbox entry when the send is refused', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const sent = h.chat.send(C, 'helo');
    await settle();

    const edited = h.chat.edit(C, sent.clientMessageId, 'hello');
    socket.error(socket.last('send'), 'forbidden');

    await expect(edited).resolves.toMatchObject({ inOutbox: true });
    expect(h.chat.outbox()).toMatchObject([{ body: 'hello', status: 'failed' }]);
    expect(socket.frames('edit')).toEqual([]);
  });

  it('edits and deletes a message acked already by the seq it was stored at', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const sent = h.chat.send(C, 'helo');
    await settle();
    socket.ack(socket.last('send'), ackFor(3));
    await sent;

    const edited = h.chat.edit(C, sent.clientMessageId, 'hello');
    const deleted = h.chat.delete(C, sent.clientMessageId);
    await settle();

    expect(socket.last('edit')).toMatchObject({ conversationId: C, seq: 3, body: 'hello' });
    expect(socket.last('delete')).toMatchObject({ conversationId: C, seq: 3 });
    socket.ack(socket.last('edit'), { conversationId: C, seq: 3, version: 2, duplicate: false });
    socket.ack(socket.last('delete'), {
      conversationId: C,
      seq: 3,
      version: 3,
      deletedAt: 'd',
      duplicate: false,
    });
    await expect(edited).resolves.toMatchObject({ version: 2 });
    await expect(deleted).resolves.toMatchObject({ version: 3 });
  });

  it('refuses an unknown clientMessageId, or a bad new body, in words and changes nothing', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const sent = h.chat.send(C, 'hello');
    await settle();

    await expect(h.chat.edit(C, 'nope', 'x')).rejects.toMatchObject({
      code: 'invalid_request',
      message: expect.stringMatching(/No message nope in conversation c1/),
    });
    await expect(h.chat.delete('c2', sent.clientMessageId)).rejects.toMatchObject({
      code: 'invalid_request',
    });
    await expect(h.chat.edit(C, sent.clientMessageId, '')).rejects.toMatchObject({ code: 'invalid_request' });

    expect(h.chat.outbox()).toMatchObject([{ body: 'hello', status: 'pending' }]);
    expect(socket.frames().map((f) => f.action)).toEqual(['send']);
  });
});

describe('failed sends', () => {
  it('stay in the outbox and its store until retried or discarded', async () => {
    const store = new MemoryOutboxStore();
    const h = harness({ outboxStore: store });
    const socket = await h.connectNow();
    const refused = h.chat.send(C, 'one');
    await settle();
    socket.error(socket.last('send'), 'forbidden');
    await expect(refused).rejects.toMatchObject({ code: 'forbidden' });
    await h.clock.advance(3_600_000);

    expect(store.load()).toMatchObject([{ clientMessageId: 'm1', status: 'failed' }]);
    expect(h.chat.discard('m1')).toBe(true);
    await settle();
    expect(store.load()).toEqual([]);
  });
});
