/** The conversation list on the local runtime: pages with a cursor, unread counts and each one's newest entry. */
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ChatClient, connect, conversationName, type MembershipEvent } from '../../client';
import { useLocalRuntime } from '../support/local-runtime';
import type { Frame } from './chat-client';
import { connectAs, createConversation, letAnyoneAdd, sendMessage } from './helpers';

const { runtime, track } = useLocalRuntime();
// Not a test of consent: the users these tests add to groups let anyone add them.
const GROUP = ['name-alice', 'name-bob', 'name-carol', 'name-dave'];
beforeAll(() => letAnyoneAdd(runtime(), ['list-bob', 'list-carol', ...GROUP]));

/** An SDK client of `userId`, subscribed to nothing, the membership pushes it hears, and when it first opened. */
function sdkClient(userId: string): { chat: ChatClient; heard: MembershipEvent[]; opened: Promise<void> } {
  const chat = connect({
    url: runtime().webSocketUrl,
    tokenProvider: () => runtime().issueToken(userId),
    WebSocket: WebSocket as never,
  });
  track(chat);
  const opened = new Promise<void>((resolve) => chat.on('open', () => resolve()));
  const heard: MembershipEvent[] = [];
  chat.on('membership', (event) => heard.push(event));
  return { chat, heard, opened };
}

describe('listConversations through the local runtime', () => {
  it('pages through every conversation with nextCursor in id order, each with its activity time, unread count and newest entry', async () => {
    // Prepare: three conversations; the one with the oldest activity gets a membership change last.
    const alice = await track(connectAs(runtime(), 'list-alice'));
    const bob = await track(connectAs(runtime(), 'list-bob'));
    const quiet = await createConversation(alice, ['list-bob', 'list-carol']);
    const busy = await createConversation(alice, ['list-bob']);
    const newest = await createConversation(alice, ['list-bob']);
    await sendMessage(bob, busy, 'b1', 'first');
    await sendMessage(bob, busy, 'b2', `${'日本語'.repeat(40)} 👋🏽`);
    const left = await bob.request({ action: 'leave', conversationId: quiet });
    expect(left.type).toBe('ack');
    await sendMessage(bob, newest, 'n1', 'hello 👋');

    // Act
    const first = await alice.request({ action: 'listConversations', limit: 2 });
    const second = await alice.request({ action: 'listConversations', limit: 2, cursor: first.nextCursor });

    // Assess
    expect(first).toMatchObject({ type: 'ack', hasMore: true, nextCursor: expect.any(String) });
    expect(second).toMatchObject({ type: 'ack', hasMore: false });
    const entries = [...(first.conversations as Frame[]), ...(second.conversations as Frame[])];
    expect(entries.map((entry) => entry.conversationId)).toEqual([newest, quiet, busy].sort());
    const byActivity = [...entries].sort((a, b) =>
      String(b.lastActivityAt).localeCompare(String(a.lastActivityAt)),
    );
    expect(byActivity.map((entry) => entry.conversationId)).toEqual([newest, quiet, busy]);
    const byId = new Map(entries.map((entry) => [entry.conversationId, entry]));
    expect(byId.get(newest)).toMatchObject({
      unread: 1,
      last: { kind: 'message', seq: 1, senderId: 'list-bob', preview: 'hello 👋' },
    });
    expect(byId.get(busy)).toMatchObject({
      unread: 2,
      last: { kind: 'message', seq: 2, preview: `${'日本語'.repeat(33)}日`, truncated: true },
    });
    expect(byId.get(quiet)).toMatchObject({
      last: { kind: 'member_left', userIds: ['list-bob'], by: 'list-bob' },
    });
  }, 60_000);

  it('names an untitled group after the other members for each member, and tells each member added at creation at once', async () => {
    // Prepare: bob and carol are online with SDK clients that subscribe to nothing.
    const [aliceId, bobId, carolId] = GROUP as [string, string, string];
    const alice = sdkClient(aliceId);
    const bob = sdkClient(bobId);
    const carol = sdkClient(carolId);
    await Promise.all([alice.opened, bob.opened, carol.opened]);

    // Act
    const { conversationId } = await alice.chat.createConversation([bobId, carolId]);

    // Assess: the members added hear of it live, without a message and without listing.
    for (const member of [bob, carol]) {
      await expect
        .poll(() => member.heard.find((event) => event.conversationId === conversationId), {
          timeout: 15_000,
        })
        .toMatchObject({ kind: 'member_added', userIds: [bobId, carolId], by: aliceId });
    }
    expect(alice.heard).toEqual([]);
    // Every member's list names the group after the others, by one rule.
    const names = await Promise.all(
      [alice, bob, carol].map(async ({ chat }, index) => {
        const { conversations } = await chat.listConversations();
        const entry = conversations.find((c) => c.conversationId === conversationId);
        expect(entry).toMatchObject({ memberCount: 3, members: [aliceId, bobId, carolId] });
        return entry === undefined ? undefined : conversationName(entry, GROUP[index] ?? '');
      }),
    );
    expect(names).toEqual([`${bobId}, ${carolId}`, `${aliceId}, ${carolId}`, `${aliceId}, ${bobId}`]);
  }, 60_000);

  it('keeps the names current when members are added, leave and are removed', async () => {
    // Prepare
    const [aliceId, bobId, carolId, daveId] = GROUP as [string, string, string, string];
    const alice = sdkClient(aliceId);
    const bob = sdkClient(bobId);
    const { conversationId } = await alice.chat.createConversation([bobId]);
    const nameFor = async (member: { chat: ChatClient }, userId: string) => {
      const { conversations } = await member.chat.listConversations();
      const entry = conversations.find((c) => c.conversationId === conversationId);
      return entry === undefined ? undefined : conversationName(entry, userId);
    };

    // Act and assess
    expect(await nameFor(bob, bobId)).toBe(aliceId);
    await alice.chat.request('addMembers', { conversationId, members: [carolId, daveId] });
    expect(await nameFor(bob, bobId)).toBe(`${aliceId}, ${carolId}, ${daveId}`);
    await alice.chat.request('removeMember', { conversationId, userId: carolId });
    await alice.chat.request('leave', { conversationId });
    expect(await nameFor(bob, bobId)).toBe(daveId);
  }, 60_000);
});
