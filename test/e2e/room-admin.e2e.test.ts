/**
 * A room's admin work and its pushed viewer count, through the SDK and the local runtime (docs/rooms.md
 * "Moderators", "The viewer count"): a ban lifted lets the user join again, the ban list pages, a new
 * invite code shuts the old link and keeps the members, and a viewer's count follows joins on the
 * messages it is pushed, without a request of its own.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ChatClient, connect } from '../../client';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';

const { runtime, track } = useLocalRuntime();
const patiently = { timeout: 30_000, interval: 50 };

/** An SDK client whose socket counts the actions it sends. */
function client(userId: string): { chat: ChatClient; sent: (action: string) => number } {
  const actions: string[] = [];
  class CountingSocket extends WebSocket {
    override send(data: string): void {
      actions.push(String((JSON.parse(data) as { action?: string }).action));
      super.send(data);
    }
  }
  const chat = track(
    connect({
      url: runtime().webSocketUrl,
      tokenProvider: () => runtime().issueToken(userId),
      WebSocket: CountingSocket as never,
    }),
  );
  return { chat, sent: (action) => actions.filter((a) => a === action).length };
}

type Person = { id: string; chat: ChatClient };

/** A new user, connected. */
const person = (name: string): Person => {
  const id = uniqueUser(name);
  return { id, chat: client(id).chat };
};

describe("a room's admins", () => {
  it('ban, list the bans, lift one so the user joins again, and refuse all of it to a member', async () => {
    // Prepare: ada's public room; ben and cy join it, and ada bans both.
    const [ada, ben, cy] = ['ada', 'ben', 'cy'].map(person) as [Person, Person, Person];
    const room = await ada.chat.createRoom('Town hall');
    const { conversationId } = room;
    await ben.chat.joinRoom(conversationId);
    const benTold: string[] = [];
    ben.chat.on('membership', (e) => benTold.push(`${e.kind} ${e.userIds.join()} by ${e.by} at ${e.seq}`));
    await ben.chat.conversation(conversationId, { backlog: 0 }).ready;
    await cy.chat.joinRoom(conversationId);
    await ada.chat.removeMember(conversationId, ben.id);
    await ada.chat.removeMember(conversationId, cy.id);
    await expect.poll(() => benTold, patiently).toEqual([`member_removed ${ben.id} by ${ada.id} at 0`]);
    const refused = await ben.chat.joinRoom(conversationId).catch((err: unknown) => err);

    // Act
    const first = await ada.chat.listBanned(conversationId, { limit: 1 });
    const second = await ada.chat.listBanned(conversationId, { limit: 1, cursor: first.nextCursor });
    const byMember = await cy.chat.listBanned(conversationId).catch((err: unknown) => err);
    const lifted = await ada.chat.unbanMember(conversationId, ben.id);
    const again = await ada.chat.unbanMember(conversationId, ben.id);
    const back = await ben.chat.joinRoom(conversationId);
    const left = await ada.chat.listBanned(conversationId);

    // Assess
    expect(refused).toMatchObject({
      code: 'forbidden',
      message: expect.stringContaining('An admin removed you'),
    });
    const banned = [ben.id, cy.id].sort();
    expect([...first.banned, ...second.banned].map((b) => b.userId)).toEqual(banned);
    expect(first).toMatchObject({ hasMore: true, nextCursor: banned[0] });
    expect(first.banned[0]).toMatchObject({ by: ada.id, bannedAt: expect.stringMatching(/^\d{4}-/) });
    expect(byMember).toMatchObject({ code: 'forbidden' });
    expect(lifted).toEqual({ conversationId, userId: ben.id, unbanned: true });
    expect(again).toMatchObject({ unbanned: false });
    expect(back).toMatchObject({ joined: true, room: { memberCount: 2, role: 'member' } });
    expect(left.banned.map((b) => b.userId)).toEqual([cy.id]);
  }, 90_000);

  it('give a link room a new invite code: the old link opens it no more, its members stay', async () => {
    // Prepare: ada's link room, which bo joined by its link.
    const [ada, bo, cat] = ['ada', 'bo', 'cat'].map((name) => person(name).chat) as [
      ChatClient,
      ChatClient,
      ChatClient,
    ];
    const room = await ada.createRoom('Backstage', { access: 'link' });
    const { conversationId } = room;
    const oldCode = String(room.inviteCode);
    await bo.joinRoom(conversationId, oldCode);

    // Act
    const renewed = await ada.newInviteCode(conversationId);
    const byOld = await cat.joinRoom(conversationId, oldCode).catch((err: unknown) => err);
    const byMember = await bo.newInviteCode(conversationId).catch((err: unknown) => err);
    const byNew = await cat.joinRoom(conversationId, renewed.inviteCode);
    const boStays = await bo.roomInfo(conversationId);

    // Assess
    expect(renewed.inviteCode).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
    expect(renewed.inviteCode).not.toBe(oldCode);
    expect(byOld).toMatchObject({
      code: 'forbidden',
      message: expect.stringContaining('does not open room'),
    });
    expect(byMember).toMatchObject({ code: 'forbidden' });
    expect(byNew).toMatchObject({ joined: true });
    expect(boStays).toMatchObject({ role: 'member', memberCount: 3 });
    expect(boStays).not.toHaveProperty('inviteCode');
  }, 90_000);
});

describe("a room's pushed viewer count", () => {
  it("moves in a viewer's state with the messages it is pushed, without the viewer asking", async () => {
    // Prepare: ivy's room, which vic watches.
    const ivy = client(uniqueUser('ivy')).chat;
    const vic = client(uniqueUser('vic'));
    const { conversationId } = await ivy.createRoom('Launch');
    await vic.chat.joinRoom(conversationId);
    const stream = vic.chat.conversation(conversationId, { backlog: 0 });
    await stream.ready;
    const atSubscribe = stream.state.viewers;
    const asked = vic.sent('roomInfo');

    // Act: three more join without a word, then ivy posts; one of them leaves, and ivy posts again.
    const joiners = [uniqueUser('j1'), uniqueUser('j2'), uniqueUser('j3')].map((id) => client(id).chat);
    await Promise.all(joiners.map((chat) => chat.joinRoom(conversationId)));
    const unchangedBeforeAMessage = stream.state.viewers;
    await ivy.send(conversationId, 'we start in a minute').acked;
    await expect.poll(() => stream.state.viewers, patiently).toBe(5);
    await (joiners[0] as ChatClient).leave(conversationId);
    const ack = await ivy.send(conversationId, 'starting').acked;

    // Assess
    await expect.poll(() => stream.state.viewers, patiently).toBe(4);
    expect(atSubscribe).toBe(2);
    expect(unchangedBeforeAMessage).toBe(2);
    expect(ack).toMatchObject({ viewers: 4 });
    expect(vic.sent('roomInfo')).toBe(asked);
  }, 90_000);
});
