import { describe, expect, it } from 'vitest';
import type { MembershipEvent, MessageUpdate } from '../../client';
import { harness, settle } from './fakes';

const C = 'c1';
const message = (seq: number, body = `m${seq}`) => ({
  type: 'message',
  conversationId: C,
  seq,
  senderId: 'bob',
  body,
  sentAt: `t${seq}`,
});
const batch = (...frames: unknown[]) => ({ type: 'batch', conversationId: C, frames });

/** A client with one open stream of conversation C, everything it tells recorded in order. */
async function openStream() {
  const h = harness({ gapWaitMs: 1_000 });
  const socket = await h.connectNow();
  const stream = h.chat.conversation(C, { afterSeq: 0 });
  const told: string[] = [];
  stream.on('message', (m) => told.push(`message ${m.seq} ${m.body}`));
  stream.on('update', (u: MessageUpdate) => told.push(`update ${u.seq} ${u.deleted ? 'deleted' : u.body}`));
  stream.on('membership', (e: MembershipEvent) => told.push(`membership ${e.seq} ${e.kind}`));
  await settle();
  socket.ack(socket.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 0 });
  await stream.ready;
  return { ...h, socket, stream, told };
}

describe('batch pushes', () => {
  it('hands on every frame of a batch in order, as if each had come alone', async () => {
    // Prepare
    const { socket, told, chat } = await openStream();
    const heard: number[] = [];
    chat.on('membership', (e) => heard.push(e.seq));

    // Act
    socket.receive(
      batch(
        message(1),
        message(2),
        { type: 'edited', conversationId: C, seq: 1, body: 'one, edited', editedAt: 'e', version: 2 },
        {
          type: 'membership',
          conversationId: C,
          seq: 3,
          event: 'member_added',
          userIds: ['carol'],
          by: 'bob',
          at: 'a',
        },
        { type: 'deleted', conversationId: C, seq: 2, deletedAt: 'd', version: 2 },
        message(4),
      ),
    );

    // Assess
    expect(told).toEqual([
      'message 1 m1',
      'message 2 m2',
      'update 1 one, edited',
      'membership 3 member_added',
      'update 2 deleted',
      'message 4 m4',
    ]);
    expect(heard).toEqual([3]);
  });

  it('shows each message once when batches and lone pushes overlap, and asks for no history', async () => {
    // Prepare
    const { socket, told, clock } = await openStream();

    // Act: a redelivered record arrives alone and again inside the next batch.
    socket.push(C, 1);
    socket.receive(batch(message(1), message(2), message(3)));
    socket.receive(batch(message(3), message(4)));
    await clock.advance(5_000);

    // Assess
    expect(told).toEqual(['message 1 m1', 'message 2 m2', 'message 3 m3', 'message 4 m4']);
    expect(socket.frames('history')).toEqual([]);
  });

  it('puts a batch that arrives ahead of a lone push in seq order', async () => {
    // Prepare
    const { socket, told } = await openStream();

    // Act
    socket.receive(batch(message(2), message(3)));
    socket.push(C, 1);

    // Assess
    expect(told).toEqual(['message 1 m1', 'message 2 m2', 'message 3 m3']);
  });

  it('drops a batch without a list of frames, and a malformed frame inside one, keeping the rest', async () => {
    // Prepare
    const { socket, told } = await openStream();

    // Act
    socket.receive({ type: 'batch', conversationId: C, frames: 'message 1' });
    socket.receive(batch(message(1), null, { type: 'message', conversationId: C }, 7, message(2)));

    // Assess
    expect(told).toEqual(['message 1 m1', 'message 2 m2']);
  });
});
