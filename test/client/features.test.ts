import { describe, expect, it } from 'vitest';
import { describeMembership, type MessageUpdate, type PresenceEvent, type TypingEvent } from '../../client';
import { harness, settle } from './fakes';

const C = 'c1';

/** A client with one open stream of conversation C, its first page empty. */
async function openStream() {
  const h = harness();
  const socket = await h.connectNow();
  const stream = h.chat.conversation(C, { afterSeq: 0 });
  const seen: string[] = [];
  const updates: MessageUpdate[] = [];
  stream.on('message', (m) => seen.push(`${m.seq}:${m.body}${m.editedAt ? ' (edited)' : ''}`));
  stream.on('update', (u) => updates.push(u));
  await settle();
  socket.ack(socket.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 0 });
  await stream.ready;
  return { ...h, socket, stream, seen, updates };
}

const edited = (seq: number, version: number, body = `e${seq}v${version}`) => ({
  type: 'edited',
  conversationId: C,
  seq,
  body,
  editedAt: `t${version}`,
  version,
});
const deleted = (seq: number, version: number) => ({
  type: 'deleted',
  conversationId: C,
  seq,
  deletedAt: `d${version}`,
  version,
});

describe('edits and deletes', () => {
  it('reports an edit of a delivered message once, as an update, and ignores older versions', async () => {
    const { socket, seen, updates } = await openStream();
    socket.push(C, 1);

    socket.receive(edited(1, 2));
    socket.receive(edited(1, 1)); // enqueued in the other order: older
    socket.receive(edited(1, 2)); // a duplicate push
    socket.receive(deleted(1, 3));

    expect(seen).toEqual(['1:m1']);
    expect(updates).toEqual([
      { conversationId: C, seq: 1, version: 2, body: 'e1v2', editedAt: 't2', deleted: false },
      { conversationId: C, seq: 1, version: 3, body: '', deleted: true, deletedAt: 'd3' },
    ]);
  });

  it('applies an edit that arrives before its message to the message, and emits the seq once', async () => {
    const { socket, seen, updates } = await openStream();

    socket.receive(edited(2, 1, 'fixed'));
    socket.push(C, 2);
    socket.push(C, 1);

    expect(seen).toEqual(['1:m1', '2:fixed (edited)']);
    expect(updates).toEqual([]);
  });

  it('skips a message deleted before it was delivered, and a deleted entry of a page', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const stream = h.chat.conversation(C, { afterSeq: 0 });
    const seen: number[] = [];
    const updates: MessageUpdate[] = [];
    stream.on('message', (m) => seen.push(m.seq));
    stream.on('update', (u) => updates.push(u));
    await settle();
    socket.receive(deleted(3, 1));
    socket.ack(socket.last('subscribe'), {
      conversationId: C,
      messages: [
        { conversationId: C, seq: 1, senderId: 'bob', body: 'v2', sentAt: 't', editedAt: 'e', version: 2 },
        {
          conversationId: C,
          seq: 2,
          tombstone: true,
          deleted: true,
          senderId: 'bob',
          deletedAt: 'd',
          version: 1,
        },
        { conversationId: C, seq: 3, senderId: 'bob', body: 'gone', sentAt: 't' },
      ],
      hasMore: false,
      lastSeq: 3,
    });
    await stream.ready;
    socket.receive(edited(1, 1)); // older than the page's version 2

    expect(seen).toEqual([1]);
    expect(updates).toEqual([]);
  });

  it('sends edit and delete with their fields and returns the acks', async () => {
    const h = harness();
    const socket = await h.connectNow();

    const edit = h.chat.edit(C, 4, 'new body');
    const del = h.chat.delete(C, 5);
    await settle();
    expect(socket.last('edit')).toMatchObject({ conversationId: C, seq: 4, body: 'new body' });
    expect(socket.last('delete')).toMatchObject({ conversationId: C, seq: 5 });
    const editAck = { conversationId: C, seq: 4, version: 1, editedAt: 'e', duplicate: false };
    const deleteAck = { conversationId: C, seq: 5, version: 1, deletedAt: 'd', duplicate: false };
    socket.ack(socket.last('edit'), editAck);
    socket.ack(socket.last('delete'), deleteAck);

    expect(await edit).toEqual(editAck);
    expect(await del).toEqual(deleteAck);
  });
});

describe('typing and presence', () => {
  it('sends typing at most once per 3 s per conversation, and never while disconnected', async () => {
    const h = harness();
    const offline = await h.chat.typing(C);
    const socket = await h.connectNow();

    const first = h.chat.typing(C);
    const again = h.chat.typing(C);
    const other = h.chat.typing('c2');
    await settle();
    for (const frame of socket.frames('typing'))
      socket.ack(frame, { conversationId: frame.conversationId, throttled: false });

    expect([offline, await first, await again, await other]).toEqual([false, true, false, true]);
    expect(socket.frames('typing').map((f) => f.conversationId)).toEqual([C, 'c2']);
    await h.clock.advance(3_000);
    const later = h.chat.typing(C);
    await settle();
    socket.ack(socket.last('typing'), { conversationId: C, throttled: true });
    expect(await later).toBe(false); // the server's throttle said no
    expect(socket.frames('typing')).toHaveLength(3);
  });

  it('reports typing on the client and on the stream, and presence on the client', async () => {
    const { chat, socket, stream } = await openStream();
    const typing: TypingEvent[] = [];
    const streamTyping: TypingEvent[] = [];
    const presence: PresenceEvent[] = [];
    chat.on('typing', (e) => typing.push(e));
    stream.on('typing', (e) => streamTyping.push(e));
    chat.on('presence', (e) => presence.push(e));

    socket.receive({ type: 'typing', conversationId: C, userId: 'bob' });
    socket.receive({ type: 'typing', conversationId: 'other', userId: 'carol' });
    socket.receive({ type: 'presence', userId: 'bob', online: false });
    socket.receive({ type: 'presence', userId: 'bob' }); // malformed: ignored

    expect(typing).toEqual([
      { conversationId: C, userId: 'bob' },
      { conversationId: 'other', userId: 'carol' },
    ]);
    expect(streamTyping).toEqual([{ conversationId: C, userId: 'bob' }]);
    expect(presence).toEqual([{ userId: 'bob', online: false }]);
  });

  it('reports a presence only when it changes: the same one said twice is one event', async () => {
    const { chat, socket } = await openStream();
    const presence: PresenceEvent[] = [];
    chat.on('presence', (e) => presence.push(e));

    for (const online of [true, true, false, false, true])
      socket.receive({ type: 'presence', userId: 'bob', online });
    socket.receive({ type: 'presence', userId: 'carol', online: true });

    expect(presence).toEqual([
      { userId: 'bob', online: true },
      { userId: 'bob', online: false },
      { userId: 'bob', online: true },
      { userId: 'carol', online: true },
    ]);
  });

  it('asks who is online', async () => {
    const h = harness();
    const socket = await h.connectNow();
    socket.answersPresence = false;

    const online = h.chat.presence(C);
    await settle();
    socket.ack(socket.last('presence'), { conversationId: C, online: ['alice', 'bob'] });

    expect(socket.last('presence')).toMatchObject({ conversationId: C });
    expect(await online).toEqual(['alice', 'bob']);
  });
});

describe('pages of older entries', () => {
  it('answers history() and loadOlder() in one shape: messages, deleted messages and membership changes apart', async () => {
    // Prepare: a stream that starts after seq 4, so that loadOlder reads 1..4.
    const { chat, connectNow } = harness();
    const socket = await connectNow();
    const stream = chat.conversation(C, { afterSeq: 4 });
    await settle();
    socket.ack(socket.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 4 });
    await stream.ready;
    const entries = [
      { conversationId: C, seq: 1, senderId: 'bob', body: 'hi', sentAt: 't1', version: 0 },
      { conversationId: C, seq: 2, tombstone: true },
      { conversationId: C, seq: 3, tombstone: true, deleted: true, version: 1 },
      {
        conversationId: C,
        seq: 4,
        tombstone: true,
        kind: 'member_added',
        userIds: ['dave'],
        by: 'bob',
        at: 'a',
      },
    ];

    // Act
    const fromHistory = chat.history(C, { beforeSeq: 5 });
    const fromStream = stream.loadOlder();
    await settle();
    for (const frame of socket.frames('history'))
      socket.ack(frame, { conversationId: C, messages: entries, hasMore: false, lastSeq: 4 });

    // Assess
    const page = await fromHistory;
    expect(page).toEqual({
      messages: [{ conversationId: C, seq: 1, senderId: 'bob', body: 'hi', sentAt: 't1' }],
      deleted: [entries[2]],
      membership: [
        { conversationId: C, seq: 4, kind: 'member_added', userIds: ['dave'], by: 'bob', at: 'a' },
      ],
      hasMore: false,
    });
    expect(await fromStream).toEqual(page);
  });
});

describe('describeMembership', () => {
  it('words a change, naming users as the caller shows them', () => {
    const you = (userId: string) => (userId === 'alice' ? 'you' : userId);

    expect(describeMembership({ kind: 'member_added', userIds: ['dave', 'erin'], by: 'alice' }, you)).toBe(
      'you added dave, erin',
    );
    expect(describeMembership({ kind: 'member_removed', userIds: ['carol'], by: 'bob' })).toBe(
      'bob removed carol',
    );
    expect(describeMembership({ kind: 'member_left', userIds: ['alice'], by: 'alice' }, you)).toBe(
      'you left',
    );
  });
});
