/** The conversation list on the local runtime: pages with a cursor, unread counts and each one's newest entry. */
import { beforeAll, describe, expect, it } from 'vitest';
import { useLocalRuntime } from '../support/local-runtime';
import type { Frame } from './chat-client';
import { connectAs, createConversation, letAnyoneAdd, sendMessage } from './helpers';

const { runtime, track } = useLocalRuntime();
// Not a test of consent: the users these tests add to groups let anyone add them.
beforeAll(() => letAnyoneAdd(runtime(), ['list-bob', 'list-carol']));

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
});
