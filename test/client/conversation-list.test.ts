/**
 * listAllConversations: the server pages the list in conversation id order (one page costs it the same
 * however many conversations there are); the SDK reads every page and orders them newest activity first.
 */
import { describe, expect, it } from 'vitest';
import { harness, settle } from './fakes';

const entry = (conversationId: string, lastActivityAt: string) => ({
  conversationId,
  readSeq: 0,
  unread: 0,
  createdBy: 'alice',
  createdAt: '2030-01-01T00:00:00.000Z',
  lastSeq: 0,
  lastActivityAt,
});

describe('listAllConversations', () => {
  it('reads every page with nextCursor and orders the conversations newest activity first', async () => {
    // Prepare
    const h = harness();
    const socket = await h.connectNow();

    // Act
    const listing = h.chat.listAllConversations();
    await settle();
    const first = socket.last('listConversations');
    socket.ack(first, {
      conversations: [entry('a', '2030-01-02T00:00:00.000Z'), entry('b', '2030-01-05T00:00:00.000Z')],
      hasMore: true,
      nextCursor: 'b',
    });
    await settle();
    const second = socket.last('listConversations');
    socket.ack(second, { conversations: [entry('c', '2030-01-03T00:00:00.000Z')], hasMore: false });

    // Assess
    const all = await listing;
    expect(first).not.toHaveProperty('cursor');
    expect(second).toMatchObject({ cursor: 'b' });
    expect(all.conversations.map((c) => c.conversationId)).toEqual(['b', 'c', 'a']);
    expect(all.hasMore).toBe(false);
  });
});
