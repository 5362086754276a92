/**
 * Rooms in the SDK (issue 17 point 1): createRoom, joinRoom, roomInfo and setSlowMode send their
 * actions with the fields the table types, a room is never created twice by a resend, and a room's
 * viewer count reaches its stream's state from the subscribe answer and from every room answer.
 */
import { describe, expect, it } from 'vitest';
import type { ConversationState, RoomInfo } from '../../client';
import { harness, settle } from './fakes';

const R = 'room1';

const room = (fields: Partial<RoomInfo> = {}): RoomInfo => ({
  conversationId: R,
  kind: 'room',
  title: 'Launch',
  access: 'public',
  slowModeSeconds: 0,
  tickMs: 0,
  memberCount: 1,
  createdBy: 'alice',
  createdAt: 't0',
  lastSeq: 0,
  role: 'admin',
  ...fields,
});

describe('rooms in the SDK', () => {
  it('creates a public room by default, or a link room with a slow mode, and answers the room', async () => {
    // Prepare
    const { chat, connectNow } = harness();
    const socket = await connectNow();

    // Act
    const open = chat.createRoom('Launch');
    const byLink = chat.createRoom('Backstage', { access: 'link', slowModeSeconds: 30 });
    await settle();
    const [first, second] = socket.frames('createRoom');
    if (first === undefined || second === undefined) throw new Error('two createRoom frames expected');
    socket.ack(first, { room: room() });
    socket.ack(second, {
      room: room({ conversationId: 'room2', access: 'link', inviteCode: 'c'.repeat(22) }),
    });

    // Assess
    expect(first).toEqual({
      action: 'createRoom',
      requestId: first.requestId,
      title: 'Launch',
      access: 'public',
    });
    expect(second).toMatchObject({ title: 'Backstage', access: 'link', slowModeSeconds: 30 });
    await expect(open).resolves.toEqual(room());
    await expect(byLink).resolves.toMatchObject({ access: 'link', inviteCode: 'c'.repeat(22) });
  });

  it('creates a room with a tick, and sets the tick of a room, answering the room', async () => {
    // Prepare
    const { chat, connectNow } = harness();
    const socket = await connectNow();

    // Act
    const created = chat.createRoom('Live', { tickMs: 250 });
    await settle();
    socket.ack(socket.last('createRoom'), { room: room({ tickMs: 250 }) });
    const set = chat.setTick(R, 500);
    await settle();
    socket.ack(socket.last('setTick'), { room: room({ tickMs: 500 }) });

    // Assess
    expect(socket.last('createRoom')).toMatchObject({ title: 'Live', access: 'public', tickMs: 250 });
    await expect(created).resolves.toMatchObject({ tickMs: 250 });
    expect(socket.last('setTick')).toEqual({
      action: 'setTick',
      requestId: socket.last('setTick').requestId,
      conversationId: R,
      tickMs: 500,
    });
    await expect(set).resolves.toMatchObject({ tickMs: 500 });
  });

  it('joins by id, or with an invite code, and answers whether it joined', async () => {
    // Prepare
    const { chat, connectNow } = harness();
    const socket = await connectNow();

    // Act
    const byId = chat.joinRoom(R);
    const byLink = chat.joinRoom('room2', 'c'.repeat(22));
    await settle();
    const [first, second] = socket.frames('joinRoom');
    if (first === undefined || second === undefined) throw new Error('two joinRoom frames expected');
    socket.ack(first, { room: room({ role: 'member', memberCount: 2 }), joined: true });
    socket.ack(second, { room: room({ conversationId: 'room2' }), joined: false });

    // Assess
    expect(first).toEqual({ action: 'joinRoom', requestId: first.requestId, conversationId: R });
    expect(second).toMatchObject({ conversationId: 'room2', code: 'c'.repeat(22) });
    await expect(byId).resolves.toMatchObject({ joined: true, room: { memberCount: 2 } });
    await expect(byLink).resolves.toMatchObject({ joined: false });
  });

  it('never resends createRoom (a second room), but resends joinRoom on the next connection', async () => {
    // Prepare
    const h = harness();
    const socket = await h.connectNow();
    const created = h.chat.createRoom('Launch');
    const joined = h.chat.joinRoom('room2');
    await settle();

    // Act
    socket.drop();
    await expect(created).rejects.toMatchObject({ code: 'no_answer' });
    await h.clock.advance(30_000);
    const next = h.socket();
    next.open();
    await settle();
    next.ack(next.last('joinRoom'), { room: room({ conversationId: 'room2' }), joined: true });

    // Assess
    expect(next.frames('createRoom')).toEqual([]);
    await expect(joined).resolves.toMatchObject({ joined: true });
  });

  it("keeps a room's viewer count in its stream's state: from the subscribe answer, then from room answers", async () => {
    // Prepare
    const { chat, connectNow } = harness();
    const socket = await connectNow();
    const stream = chat.conversation(R, { afterSeq: 0 });
    const states: ConversationState[] = [];
    stream.on('state', (state) => states.push(state));
    await settle();

    // Act
    socket.ack(socket.last('subscribe'), {
      conversationId: R,
      messages: [],
      hasMore: false,
      lastSeq: 0,
      memberCount: 40,
    });
    await stream.ready;
    const viewersAtSubscribe = stream.state.viewers;
    const info = chat.roomInfo(R);
    await settle();
    socket.ack(socket.last('roomInfo'), { room: room({ memberCount: 41 }) });
    await info;
    const slowed = chat.setSlowMode(R, 10);
    await settle();
    socket.ack(socket.last('setSlowMode'), { room: room({ memberCount: 41, slowModeSeconds: 10 }) });

    // Assess
    expect(socket.last('roomInfo')).toMatchObject({ conversationId: R });
    expect(socket.last('setSlowMode')).toMatchObject({ conversationId: R, slowModeSeconds: 10 });
    await expect(slowed).resolves.toMatchObject({ slowModeSeconds: 10 });
    expect(viewersAtSubscribe).toBe(40);
    expect(stream.state.viewers).toBe(41);
    // The same count heard again is no change.
    expect(states.filter((s) => s.viewers === 41)).toHaveLength(1);
  });

  it('leaves a room with leave: its stream closes, and the room is heard of no more', async () => {
    // Prepare
    const { chat, connectNow } = harness();
    const socket = await connectNow();
    const stream = chat.conversation(R, { afterSeq: 0 });
    await settle();
    socket.ack(socket.last('subscribe'), {
      conversationId: R,
      messages: [],
      hasMore: false,
      lastSeq: 0,
      memberCount: 3,
    });
    await stream.ready;
    const heard: number[] = [];
    stream.on('message', (m) => heard.push(m.seq));

    // Act
    const left = chat.leave(R);
    await settle();
    socket.ack(socket.last('leave'), { conversationId: R, left: true });
    await left;
    socket.push(R, 1);

    // Assess
    expect(socket.last('leave')).toMatchObject({ conversationId: R });
    expect(heard).toEqual([]);
    expect(chat.conversation(R)).not.toBe(stream); // a new stream, should the user join again
  });

  it('has no viewer count for a conversation that is not a room', async () => {
    // Prepare
    const { chat, connectNow } = harness();
    const socket = await connectNow();
    const stream = chat.conversation('g1', { afterSeq: 0 });
    await settle();

    // Act
    socket.ack(socket.last('subscribe'), { conversationId: 'g1', messages: [], hasMore: false, lastSeq: 0 });
    await stream.ready;

    // Assess
    expect(stream.state.viewers).toBeUndefined();
  });
});
