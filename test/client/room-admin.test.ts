/**
 * A room's admin calls in the SDK (unbanMember, listBanned, newInviteCode) and its pushed viewer count:
 * each room message, pushed or acked, tells the count as it took its seq, so a viewer sees it move
 * without asking; a late message (an older seq) never moves it back.
 */
import { describe, expect, it } from 'vitest';
import type { RoomInfo } from '../../client';
import { harness, settle } from './fakes';

const R = 'room_r1';

const linkRoom = (inviteCode: string): RoomInfo => ({
  conversationId: R,
  kind: 'room',
  title: 'Backstage',
  access: 'link',
  slowModeSeconds: 0,
  tickMs: 0,
  memberCount: 3,
  createdBy: 'alice',
  createdAt: 't0',
  lastSeq: 0,
  role: 'admin',
  inviteCode,
});

/** A client with the open stream of room R, subscribed at `lastSeq` 0 with `memberCount` viewers. */
async function openRoom(memberCount: number) {
  const h = harness();
  const socket = await h.connectNow();
  const stream = h.chat.conversation(R, { afterSeq: 0 });
  await settle();
  socket.ack(socket.last('subscribe'), {
    conversationId: R,
    messages: [],
    hasMore: false,
    lastSeq: 0,
    memberCount,
  });
  await stream.ready;
  return { ...h, socket, stream };
}

const message = (seq: number, viewers?: number) => ({
  type: 'message',
  conversationId: R,
  seq,
  senderId: 'bob',
  body: `m${seq}`,
  sentAt: `t${seq}`,
  ...(viewers === undefined ? {} : { viewers }),
});

describe("a room's admin calls", () => {
  it('lifts a ban, and pages through who is banned', async () => {
    // Prepare
    const { chat, connectNow } = harness();
    const socket = await connectNow();

    // Act
    const unbanned = chat.unbanMember(R, 'eve');
    const page = chat.listBanned(R, { limit: 2, cursor: 'bob' });
    await settle();
    socket.ack(socket.last('unbanMember'), { conversationId: R, userId: 'eve', unbanned: true });
    const banned = [{ userId: 'carol', by: 'alice', bannedAt: 't1' }];
    socket.ack(socket.last('listBanned'), { conversationId: R, banned, hasMore: false });

    // Assess
    expect(socket.last('unbanMember')).toEqual({
      action: 'unbanMember',
      requestId: socket.last('unbanMember').requestId,
      conversationId: R,
      userId: 'eve',
    });
    expect(socket.last('listBanned')).toMatchObject({ conversationId: R, limit: 2, cursor: 'bob' });
    await expect(unbanned).resolves.toEqual({ conversationId: R, userId: 'eve', unbanned: true });
    await expect(page).resolves.toEqual({ conversationId: R, banned, hasMore: false });
  });

  it("answers a link room's new invite code, and resends the request on the next connection", async () => {
    // Prepare
    const h = harness();
    const socket = await h.connectNow();
    const renewed = h.chat.newInviteCode(R);
    await settle();

    // Act
    socket.drop();
    await h.clock.advance(30_000);
    const next = h.socket();
    next.open();
    await settle();
    next.ack(next.last('newInviteCode'), { room: linkRoom('n'.repeat(22)) });

    // Assess
    expect(next.last('newInviteCode')).toMatchObject({ conversationId: R });
    await expect(renewed).resolves.toMatchObject({ inviteCode: 'n'.repeat(22) });
  });
});

describe("a room's pushed viewer count", () => {
  it("takes the count each pushed message tells into the stream's state", async () => {
    // Prepare
    const { socket, stream } = await openRoom(40);
    const counts: (number | undefined)[] = [];
    stream.on('state', (state) => counts.push(state.viewers));

    // Act
    socket.receive(message(1, 41));
    socket.receive({ type: 'batch', conversationId: R, frames: [message(2, 43), message(3, 42)] });

    // Assess
    expect(stream.state.viewers).toBe(42);
    expect(counts).toContain(41);
    expect(stream.state.lastSeq).toBe(3);
  });

  it('never moves the count back for a message that arrives late, nor for one that tells none', async () => {
    // Prepare
    const { socket, stream } = await openRoom(40);

    // Act: seq 2 overtook seq 1 (two shards), then a message of another client version.
    socket.receive(message(2, 50));
    socket.receive(message(1, 45));
    socket.receive(message(3));

    // Assess
    expect(stream.state.viewers).toBe(50);
    expect(stream.state.lastSeq).toBe(3);
  });

  it("takes the count from the ack of this client's own message, which it is not pushed", async () => {
    // Prepare
    const { chat, socket, stream } = await openRoom(40);

    // Act
    const sent = chat.send(R, 'hello');
    await settle();
    socket.ack(socket.last('send'), {
      conversationId: R,
      seq: 1,
      sentAt: 't1',
      senderId: 'me',
      duplicate: false,
      viewers: 47,
    });
    await sent;

    // Assess
    expect(stream.state.viewers).toBe(47);
  });
});
