import { describe, expect, it } from 'vitest';
import type { ConversationState } from '../../client';
import { LIMITS } from '../../shared/limits';
import { type FakeSocket, harness, settle } from './fakes';

const C = 'c1';
const message = (seq: number, senderId: string) => ({
  type: 'message',
  conversationId: C,
  seq,
  senderId,
  body: `m${seq}`,
  sentAt: `t${seq}`,
});

/** A stream of C after seq 0, its presence answered by the test with `presence`. */
async function openRoom(presence: object = { online: ['alice', 'bob'], readSeqs: readSeqs(0, 0, 0) }) {
  const h = harness();
  const socket = await h.connectNow();
  socket.answersPresence = false;
  const room = h.chat.conversation(C, { afterSeq: 0 });
  const states: ConversationState[] = [];
  room.on('state', (state) => states.push(state));
  await settle();
  socket.ack(socket.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 0 });
  await room.ready;
  await settle();
  socket.ack(socket.last('presence'), { conversationId: C, ...presence });
  await settle();
  return { ...h, socket, room, states };
}

const readSeqs = (alice: number, bob: number, carol: number) => [
  { userId: 'alice', readSeq: alice },
  { userId: 'bob', readSeq: bob },
  { userId: 'carol', readSeq: carol },
];

const typing = (socket: FakeSocket, userId: string) =>
  socket.receive({ type: 'typing', conversationId: C, userId });

describe("a conversation's state", () => {
  it('takes the members, who is online and the read cursors from the presence answer after subscribing', async () => {
    // Act
    const { room, states } = await openRoom({ online: ['alice', 'bob'], readSeqs: readSeqs(4, 2, 0) });

    // Assess
    expect(room.state).toEqual({
      members: ['alice', 'bob', 'carol'],
      typing: [],
      readSeqs: { alice: 4, bob: 2, carol: 0 },
      online: ['alice', 'bob'],
      lastSeq: 0,
    });
    expect(states.at(-1)).toBe(room.state);
    expect(room.seenBy(2)).toEqual(['alice', 'bob']);
    expect(room.seenBy(3)).toEqual(['alice']);
  });

  it('moves read cursors forward with read pushes, never back', async () => {
    // Prepare
    const { room, socket, states } = await openRoom();
    const before = states.length;

    // Act
    socket.receive({ type: 'read', conversationId: C, userId: 'bob', seq: 5 });
    socket.receive({ type: 'read', conversationId: C, userId: 'bob', seq: 3 });

    // Assess
    expect(room.state.readSeqs).toEqual({ alice: 0, bob: 5, carol: 0 });
    expect(room.seenBy(5)).toEqual(['bob']);
    expect(states).toHaveLength(before + 1);
  });

  it('shows other members typing until LIMITS.typingShownMs after their last typing push, or until their message', async () => {
    // Prepare
    const { room, socket, clock } = await openRoom();

    // Act
    typing(socket, 'bob');
    typing(socket, 'carol');
    await clock.advance(LIMITS.typingShownMs - 1_000);
    typing(socket, 'bob');
    const bothTyping = room.state.typing;
    await clock.advance(1_000);
    const afterCarolExpired = room.state.typing;
    socket.receive(message(1, 'bob'));
    const afterBobsMessage = room.state;

    // Assess
    expect(bothTyping).toEqual(['bob', 'carol']);
    expect(afterCarolExpired).toEqual(['bob']);
    expect(afterBobsMessage).toMatchObject({ typing: [], lastSeq: 1 });
  });

  it('follows presence pushes of members only, and knows nobody online while its own connection is down', async () => {
    // Prepare
    const { room, socket, clock, sockets } = await openRoom({
      online: ['alice'],
      readSeqs: readSeqs(0, 0, 0),
    });

    // Act
    socket.receive({ type: 'presence', userId: 'carol', online: true });
    socket.receive({ type: 'presence', userId: 'mallory', online: true });
    const withCarol = room.state.online;
    typing(socket, 'carol');
    socket.drop();
    const whileDown = room.state;
    await clock.advance(1_000);
    const next = sockets.at(-1);
    if (next === socket || next === undefined) throw new Error('the client did not reconnect');
    next.answersPresence = false;
    next.open();
    await settle();
    next.ack(next.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 0 });
    await settle();
    next.ack(next.last('presence'), { conversationId: C, online: ['alice', 'bob'] });
    await settle();

    // Assess
    expect(withCarol).toEqual(['alice', 'carol']);
    expect(whileDown).toMatchObject({ online: [], typing: [] });
    expect(room.state.online).toEqual(['alice', 'bob']);
  });

  it('counts presence pushes of users heard of here while a big group does not list its members', async () => {
    // Prepare: no readSeqs above 20 members, so the answer names only who is online.
    const { room, socket } = await openRoom({ online: ['alice', 'bob'] });

    // Act
    socket.receive({ type: 'presence', userId: 'bob', online: false });
    socket.receive({ type: 'presence', userId: 'bob', online: true });
    socket.receive({ type: 'presence', userId: 'mallory', online: true });

    // Assess
    expect(room.state).toMatchObject({ members: [], online: ['alice', 'bob'] });
  });

  it('keeps the member list by membership changes; who is removed or leaves is no longer online or typing', async () => {
    // Prepare
    const { room, socket } = await openRoom();
    const change = { type: 'membership', conversationId: C, by: 'alice', at: 'a' };
    typing(socket, 'carol');

    // Act
    socket.receive({ ...change, seq: 1, event: 'member_added', userIds: ['dave'] });
    socket.receive({ ...change, seq: 2, event: 'member_removed', userIds: ['carol'] });
    socket.receive({ ...change, seq: 3, event: 'member_left', userIds: ['bob'], by: 'bob' });

    // Assess
    expect(room.state).toMatchObject({
      members: ['alice', 'dave'],
      online: ['alice'],
      typing: [],
      lastSeq: 3,
    });
  });

  it('starts with the members of a conversation it created when the presence answer does not list them', async () => {
    // Prepare
    const h = harness();
    const socket = await h.connectNow();
    const created = h.chat.createConversation(['bob', 'carol'], 'Lunch');
    await settle();
    socket.ack(socket.last('createConversation'), {
      conversation: { conversationId: C, title: 'Lunch', members: ['alice', 'bob', 'carol'], createdAt: 'a' },
    });
    await created;

    // Act
    const room = h.chat.conversation(C, { afterSeq: 0 });
    await settle();
    socket.ack(socket.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 0 });
    await settle();
    socket.receive({ type: 'presence', userId: 'bob', online: true });

    // Assess
    expect(room.state.members).toEqual(['alice', 'bob', 'carol']);
    expect(room.state.online).toEqual(['bob']);
  });
});
