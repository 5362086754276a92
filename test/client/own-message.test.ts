/** The sender's own message comes from its ack: the connection that sent it is not pushed it. */
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../client';
import { harness, settle } from './fakes';

const C = 'c1';

/** A client with one open stream of C after seq 0, and every message it delivers. */
async function openStream() {
  const h = harness({ gapWaitMs: 1_000 });
  const socket = await h.connectNow();
  const stream = h.chat.conversation(C, { afterSeq: 0 });
  const seen: ChatMessage[] = [];
  stream.on('message', (m) => seen.push(m));
  await settle();
  socket.ack(socket.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 0 });
  await stream.ready;
  return { ...h, socket, stream, seen };
}

describe('own messages', () => {
  it('delivers an acked message from its ack once, reads no history, and drops its late push', async () => {
    // Prepare
    const { chat, socket, seen, clock } = await openStream();
    chat.send(C, 'mine');
    await settle();

    // Act
    socket.ack(socket.last('send'), {
      conversationId: C,
      seq: 1,
      sentAt: 't1',
      senderId: 'alice',
      duplicate: false,
    });
    await settle();
    socket.push(C, 1, 'mine');
    await clock.advance(30_000);

    // Assess
    expect(seen).toEqual([{ conversationId: C, seq: 1, senderId: 'alice', body: 'mine', sentAt: 't1' }]);
    expect(socket.frames('history')).toEqual([]);
  });

  it('delivers its own message in seq order after a message pushed before it', async () => {
    // Prepare
    const { chat, socket, seen, clock } = await openStream();
    chat.send(C, 'second');
    await settle();

    // Act: bob's seq 1 is pushed after alice's seq 2 was acked.
    socket.ack(socket.last('send'), {
      conversationId: C,
      seq: 2,
      sentAt: 't2',
      senderId: 'alice',
      duplicate: false,
    });
    await settle();
    socket.push(C, 1);
    await clock.advance(30_000);

    // Assess
    expect(seen.map((m) => [m.seq, m.body])).toEqual([
      [1, 'm1'],
      [2, 'second'],
    ]);
    expect(socket.frames('history')).toEqual([]);
  });

  it('shows a message answered as a duplicate as it is stored, edited meanwhile, not as the outbox held it', async () => {
    // Prepare: the send reached the server, but the socket dropped before its ack.
    const { chat, socket, seen, clock, sockets } = await openStream();
    chat.send(C, 'mine');
    await settle();
    socket.drop();
    await clock.advance(30_000);
    const second = sockets[1] as NonNullable<(typeof sockets)[number]>;
    second.open();
    await settle();

    // Act: the resend's duplicate ack comes before the backlog, which has the message as edited since.
    second.ack(second.last('send'), {
      conversationId: C,
      seq: 1,
      sentAt: 't1',
      senderId: 'alice',
      duplicate: true,
    });
    await settle();
    const edited = { conversationId: C, seq: 1, senderId: 'alice', body: 'fixed', sentAt: 't1' };
    second.ack(second.last('subscribe'), {
      conversationId: C,
      messages: [{ ...edited, editedAt: 't2', version: 2 }],
      hasMore: false,
      lastSeq: 1,
    });
    await clock.advance(30_000);

    // Assess
    expect(seen.map((m) => [m.seq, m.body])).toEqual([[1, 'fixed']]);
  });

  it('reads a message answered as a duplicate from history when no backlog brings it', async () => {
    // Prepare
    const { chat, socket, seen, clock } = await openStream();
    chat.send(C, 'mine');
    await settle();

    // Act: acked as a duplicate (its first ack was lost); the sender deleted it from another device.
    socket.ack(socket.last('send'), {
      conversationId: C,
      seq: 1,
      sentAt: 't1',
      senderId: 'alice',
      duplicate: true,
    });
    await clock.advance(1_000);
    const repair = socket.last('history');
    socket.ack(repair, {
      conversationId: C,
      messages: [
        {
          conversationId: C,
          seq: 1,
          tombstone: true,
          deleted: true,
          senderId: 'alice',
          deletedAt: 't2',
          version: 2,
        },
      ],
      hasMore: false,
      lastSeq: 1,
    });
    await clock.advance(30_000);

    // Assess
    expect(repair).toMatchObject({ conversationId: C, beforeSeq: 2 });
    expect(seen).toEqual([]);
  });
});
