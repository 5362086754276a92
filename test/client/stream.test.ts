import { describe, expect, it } from 'vitest';
import type { ChatMessage, ConversationStream } from '../../client';
import { type FakeSocket, harness, settle } from './fakes';

const C = 'c1';
const tomb = (seq: number) => ({ conversationId: C, seq, tombstone: true });
const msg = (seq: number) => ({
  conversationId: C,
  seq,
  senderId: 'bob',
  body: `m${seq}`,
  sentAt: `t${seq}`,
});

/** A client with one open stream of conversation C subscribed after `afterSeq`, its first page empty. */
async function openStream(afterSeq = 0, lastSeq = afterSeq) {
  const h = harness({ gapWaitMs: 1_000 });
  const socket = await h.connectNow();
  const stream = h.chat.conversation(C, { afterSeq });
  const seen: number[] = [];
  stream.on('message', (m: ChatMessage) => seen.push(m.seq));
  await settle();
  socket.ack(socket.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq });
  await stream.ready;
  return { ...h, socket, stream, seen };
}

const historyFrames = (socket: FakeSocket) => socket.frames('history');

describe('ordered streams', () => {
  it('delivers messages pushed out of order in seq order', async () => {
    const { socket, seen } = await openStream();

    socket.push(C, 2);
    socket.push(C, 3);
    expect(seen).toEqual([]);
    socket.push(C, 1);

    expect(seen).toEqual([1, 2, 3]);
  });

  it('delivers a message pushed twice, and again in a page, exactly once', async () => {
    const { socket, stream, seen, clock } = await openStream();

    socket.push(C, 1);
    socket.push(C, 1);
    socket.push(C, 2);
    await clock.advance(2_000);
    socket.push(C, 2);

    expect(seen).toEqual([1, 2]);
    expect(stream.lastSeq).toBe(2);
    await clock.advance(30_000);
    expect(historyFrames(socket)).toEqual([]); // a duplicate is no gap
  });

  it('skips tombstones but counts their seq as received', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const stream = h.chat.conversation(C, { afterSeq: 0 });
    const bodies: string[] = [];
    stream.on('message', (m) => bodies.push(m.body));
    await settle();

    socket.ack(socket.last('subscribe'), {
      conversationId: C,
      messages: [msg(1), tomb(2), msg(3)],
      hasMore: false,
      lastSeq: 3,
    });
    await settle();
    socket.push(C, 4);
    await h.clock.advance(5_000);

    expect(bodies).toEqual(['m1', 'm3', 'm4']);
    expect(historyFrames(socket)).toEqual([]);
  });

  it('waits briefly on a gap, then reads the missing range with history', async () => {
    const { socket, seen, clock } = await openStream();
    socket.push(C, 1);
    socket.push(C, 4);

    await clock.advance(999);
    expect(historyFrames(socket)).toEqual([]);
    await clock.advance(1);
    const history = socket.last('history');
    expect(history).toMatchObject({ conversationId: C, beforeSeq: 4, limit: 2 });
    socket.ack(history, { conversationId: C, messages: [msg(2), msg(3)], hasMore: true, lastSeq: 4 });
    await settle();

    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('asks no history when the missing message arrives within the wait', async () => {
    const { socket, seen, clock } = await openStream();
    socket.push(C, 2);

    await clock.advance(500);
    socket.push(C, 1);
    await clock.advance(10_000);

    expect(seen).toEqual([1, 2]);
    expect(historyFrames(socket)).toEqual([]);
  });

  it('tries again, waiting longer, while a page lacks a seq whose writer is still storing it', async () => {
    const { socket, seen, clock } = await openStream();
    socket.push(C, 2);

    await clock.advance(1_000);
    socket.ack(socket.last('history'), { conversationId: C, messages: [], hasMore: false, lastSeq: 2 });
    await clock.advance(1_999);
    expect(historyFrames(socket)).toHaveLength(1);
    await clock.advance(1);
    expect(historyFrames(socket)).toHaveLength(2);
    socket.ack(socket.last('history'), {
      conversationId: C,
      messages: [tomb(1)],
      hasMore: false,
      lastSeq: 2,
    });
    await settle();

    expect(seen).toEqual([2]);
  });

  it('reads a large gap from its low end, one page of at most 100 at a time', async () => {
    const { socket, clock } = await openStream(10);
    socket.push(C, 500);

    await clock.advance(1_000);

    expect(socket.last('history')).toMatchObject({ beforeSeq: 111, limit: 100 });
  });

  it('starts at the conversation lastSeq when opened with no backlog', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const stream = h.chat.conversation(C, { backlog: 0 });
    const seen: number[] = [];
    stream.on('message', (m) => seen.push(m.seq));
    await settle();
    const subscribe = socket.last('subscribe');
    expect(subscribe).not.toHaveProperty('afterSeq');

    socket.push(C, 7);
    socket.ack(subscribe, { conversationId: C, messages: [], hasMore: false, lastSeq: 7 });
    await settle();
    socket.push(C, 8);

    expect(seen).toEqual([8]);
  });

  it('delivers the last page as backlog, then live messages, when opened without afterSeq', async () => {
    // Prepare
    const h = harness();
    const socket = await h.connectNow();
    const stream = h.chat.conversation(C);
    const seen: number[] = [];
    stream.on('message', (m) => seen.push(m.seq));
    await settle();

    // Act
    socket.ack(socket.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 120 });
    await settle();
    const backlog = socket.last('history');
    const page = Array.from({ length: 50 }, (_, i) => msg(71 + i));
    socket.ack(backlog, { conversationId: C, messages: page, hasMore: true, lastSeq: 120 });
    await stream.ready;
    socket.push(C, 121);
    const older = stream.loadOlder(10);
    await settle();

    // Assess
    expect(socket.last('subscribe')).not.toHaveProperty('afterSeq');
    expect(backlog).toMatchObject({ conversationId: C, beforeSeq: 121, limit: 50 });
    expect(seen).toEqual(Array.from({ length: 51 }, (_, i) => 71 + i));
    expect(socket.last('history')).toMatchObject({ beforeSeq: 71, limit: 10 });
    socket.ack(socket.last('history'), { conversationId: C, messages: [], hasMore: true, lastSeq: 121 });
    await older;
  });

  it('re-subscribes on reconnect after the last seq held and pages while hasMore', async () => {
    const { socket, seen, clock, sockets } = await openStream();
    socket.push(C, 1);
    socket.push(C, 2);

    socket.drop();
    await clock.advance(30_000);
    const second = sockets[1] as FakeSocket;
    second.open();
    await settle();
    const first = second.last('subscribe');
    expect(first).toMatchObject({ conversationId: C, afterSeq: 2 });
    second.push(C, 5); // live, while the backlog is read: held, not repaired
    second.ack(first, { conversationId: C, messages: [msg(3)], hasMore: true, lastSeq: 5 });
    await settle();
    const next = second.last('subscribe');
    expect(next).toMatchObject({ afterSeq: 3 });
    second.ack(next, { conversationId: C, messages: [msg(4), msg(5)], hasMore: false, lastSeq: 5 });
    await clock.advance(10_000);

    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(historyFrames(second)).toEqual([]);
  });

  it('pages back through history for scroll-back, tombstones left out', async () => {
    const { socket, stream } = await openStream(120, 120);

    const firstPage = stream.loadOlder(50);
    await settle();
    const first = socket.last('history');
    expect(first).toMatchObject({ beforeSeq: 121, limit: 50 });
    socket.ack(first, {
      conversationId: C,
      messages: [tomb(71), ...Array.from({ length: 49 }, (_, i) => msg(72 + i))],
      hasMore: true,
      lastSeq: 120,
    });
    expect((await firstPage).messages.map((m) => m.seq)).toEqual(
      Array.from({ length: 49 }, (_, i) => 72 + i),
    );
    const secondPage = stream.loadOlder(100);
    await settle();

    expect(socket.last('history')).toMatchObject({ beforeSeq: 71, limit: 100 });
    socket.ack(socket.last('history'), {
      conversationId: C,
      messages: Array.from({ length: 70 }, (_, i) => msg(1 + i)),
      hasMore: false,
      lastSeq: 120,
    });
    expect(await secondPage).toMatchObject({ hasMore: false });
    expect(await stream.loadOlder()).toEqual({ messages: [], deleted: [], membership: [], hasMore: false });
  });

  it('reports a refused subscription and closes the stream', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const stream: ConversationStream = h.chat.conversation(C, { afterSeq: 0 });
    const errors: string[] = [];
    stream.on('error', (e) => errors.push(e.code));
    await settle();

    socket.error(socket.last('subscribe'), 'forbidden');

    await expect(stream.ready).rejects.toMatchObject({ code: 'forbidden' });
    expect(errors).toEqual(['forbidden']);
    expect(h.chat.conversation(C)).not.toBe(stream);
  });

  it('unsubscribes when closed and ignores later pushes', async () => {
    const { socket, stream, seen } = await openStream();

    stream.close();
    socket.push(C, 1);

    expect(socket.last('unsubscribe')).toMatchObject({ conversationId: C });
    expect(seen).toEqual([]);
  });
});
