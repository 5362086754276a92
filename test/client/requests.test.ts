import { describe, expect, it } from 'vitest';
import { harness, settle } from './fakes';

const C = 'c1';
const conversation = {
  conversationId: C,
  title: 'Lunch',
  members: ['alice', 'bob'],
  createdBy: 'alice',
  createdAt: '2025-01-01T00:00:00.000Z',
  lastSeq: 0,
};

describe('requests', () => {
  it('answers every action with its typed result', async () => {
    const h = harness();
    const socket = await h.connectNow();

    const created = h.chat.createConversation(['bob'], 'Lunch');
    const added = h.chat.addMembers(C, ['carol']);
    const page = h.chat.history(C, { beforeSeq: 10, limit: 5 });
    await settle();
    socket.ack(socket.last('createConversation'), { conversation });
    socket.ack(socket.last('addMembers'), { conversationId: C, added: ['carol'] });
    socket.ack(socket.last('history'), { conversationId: C, messages: [], hasMore: false, lastSeq: 9 });

    expect(socket.last('createConversation')).toMatchObject({ members: ['bob'], title: 'Lunch' });
    expect(socket.last('history')).toMatchObject({ conversationId: C, beforeSeq: 10, limit: 5 });
    expect(await created).toEqual(conversation);
    expect(await added).toEqual({ conversationId: C, added: ['carol'] });
    expect(await page).toEqual({ messages: [], deleted: [], membership: [], hasMore: false });
  });

  it('pages the conversation list with the cursor of the page before', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const entry = { ...conversation, readSeq: 0, unread: 0, lastActivityAt: conversation.createdAt };

    const first = h.chat.listConversations({ limit: 1 });
    await settle();
    socket.ack(socket.last('listConversations'), { conversations: [entry], hasMore: true, nextCursor: 'k1' });
    const { nextCursor } = await first;
    const second = h.chat.listConversations({ limit: 1, cursor: nextCursor });
    await settle();
    socket.ack(socket.last('listConversations'), { conversations: [], hasMore: false });

    expect(socket.last('listConversations')).toMatchObject({ limit: 1, cursor: 'k1' });
    await expect(second).resolves.toEqual({ conversations: [], hasMore: false });
  });

  it('waits for the connection before sending', async () => {
    const h = harness();
    const page = h.chat.history(C);
    await settle();

    expect(h.socket().sent).toEqual([]);
    h.socket().open();
    await settle();
    h.socket().ack(h.socket().last('history'), {
      conversationId: C,
      messages: [],
      hasMore: false,
      lastSeq: 0,
    });

    await expect(page).resolves.toMatchObject({ messages: [], hasMore: false });
  });

  it('resends the same frame after retryAfterMs when the server is busy', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const { acked } = h.chat.send(C, 'hello');
    await settle();
    const first = socket.last('send');

    socket.error(first, 'busy', { retryAfterMs: 750 });
    await h.clock.advance(749);
    expect(socket.frames('send')).toHaveLength(1);
    await h.clock.advance(1);
    const second = socket.last('send');
    socket.ack(second, { conversationId: C, seq: 1, sentAt: 't1', duplicate: false });

    expect(second).toMatchObject({ clientMessageId: first.clientMessageId, body: 'hello' });
    expect(second.requestId).not.toBe(first.requestId);
    await expect(acked).resolves.toMatchObject({ seq: 1 });
  });

  it('still takes the first attempt’s ack after a resend was answered busy (the message was in flight)', async () => {
    const h = harness({ requestTimeoutMs: 15_000 });
    const socket = await h.connectNow();
    const { acked } = h.chat.send(C, 'hello');
    await settle();
    const first = socket.last('send');
    socket.receive({
      type: 'message',
      conversationId: 'other',
      seq: 1,
      senderId: 'x',
      body: 'x',
      sentAt: 'x',
    });

    await h.clock.advance(15_000); // no answer, but the socket is alive: resend on it
    const second = socket.last('send');
    socket.error(second, 'busy', { retryAfterMs: 1_000 });
    socket.ack(first, { conversationId: C, seq: 7, sentAt: 't7', duplicate: false });
    await h.clock.advance(5_000);

    await expect(acked).resolves.toMatchObject({ seq: 7 });
    expect(socket.frames('send')).toHaveLength(2);
  });

  it('ignores a retryable error of an earlier attempt while a later one is still out', async () => {
    const h = harness({ requestTimeoutMs: 15_000 });
    const socket = await h.connectNow();
    const { acked } = h.chat.send(C, 'hello');
    await settle();
    const first = socket.last('send');
    socket.receive({
      type: 'message',
      conversationId: 'other',
      seq: 1,
      senderId: 'x',
      body: 'x',
      sentAt: 'x',
    });
    await h.clock.advance(15_000);
    const second = socket.last('send', 1);

    socket.error(first, 'busy', { retryAfterMs: 100 });
    await h.clock.advance(5_000);
    expect(socket.frames('send')).toHaveLength(2);
    socket.ack(second, { conversationId: C, seq: 2, sentAt: 't2', duplicate: false });

    await expect(acked).resolves.toMatchObject({ seq: 2 });
  });

  it('retries internal errors with backoff, and reports permanent errors without resending', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const page = h.chat.history(C);
    await settle();

    socket.error(socket.last('history'), 'internal_error');
    await h.clock.advance(500);
    expect(socket.frames('history')).toHaveLength(2);
    socket.error(socket.last('history'), 'forbidden');

    await expect(page).rejects.toMatchObject({ name: 'ChatRequestError', code: 'forbidden' });
    await h.clock.advance(60_000);
    expect(socket.frames('history')).toHaveLength(2);
  });

  it('treats API Gateway’s anonymous error frame as no answer and resends after a bounded wait', async () => {
    const h = harness({ requestTimeoutMs: 15_000 });
    const socket = await h.connectNow();
    const { acked } = h.chat.send(C, 'hello');
    await settle();
    const first = socket.last('send');

    socket.receive({ message: 'Internal server error', connectionId: 'abc=', requestId: first.requestId });
    await h.clock.advance(1_999);
    expect(socket.frames('send')).toHaveLength(1);
    await h.clock.advance(1);
    expect(socket.frames('send')).toHaveLength(2);
    const second = socket.last('send');
    socket.ack(second, { conversationId: C, seq: 3, sentAt: 't3', duplicate: true });

    expect(second.requestId).not.toBe(first.requestId);
    expect(second.clientMessageId).toBe(first.clientMessageId);
    await expect(acked).resolves.toMatchObject({ seq: 3 });
    expect(h.sockets).toHaveLength(1);
  });

  it('reconnects and resends when a request gets no answer and nothing else comes back either', async () => {
    const h = harness({ requestTimeoutMs: 15_000 });
    const socket = await h.connectNow();
    const { acked } = h.chat.send(C, 'hello');
    await settle();

    await h.clock.advance(15_000);
    expect(socket.closedWith).toBe(1000);
    await h.clock.advance(500);
    const next = h.socket();
    next.open();
    await settle();
    next.ack(next.last('send'), { conversationId: C, seq: 1, sentAt: 't1', duplicate: false });

    expect(next.last('send').clientMessageId).toBe(socket.last('send').clientMessageId);
    await expect(acked).resolves.toMatchObject({ seq: 1 });
  });

  it('reconnects on connection_gone and resends there', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const page = h.chat.history(C);
    await settle();

    socket.error(socket.last('history'), 'connection_gone');
    await h.clock.advance(500);
    h.socket().open();
    await settle();
    h.socket().ack(h.socket().last('history'), {
      conversationId: C,
      messages: [],
      hasMore: false,
      lastSeq: 0,
    });

    expect(h.sockets).toHaveLength(2);
    await expect(page).resolves.toMatchObject({ messages: [], hasMore: false });
  });

  it('never resends createConversation after a retryable error: it may have taken effect, so it is no_answer', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const created = h.chat.createConversation(['bob']);
    await settle();

    socket.error(socket.last('createConversation'), 'busy', { retryAfterMs: 100 });
    await expect(created).rejects.toMatchObject({ code: 'no_answer' });
    await h.clock.advance(500);
    await settle();

    expect(socket.frames('createConversation')).toHaveLength(1);
  });

  it('never resends createConversation: a lost answer is reported as no_answer', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const created = h.chat.createConversation(['bob']);
    await settle();

    socket.drop();
    await expect(created).rejects.toMatchObject({ code: 'no_answer' });
    await h.clock.advance(500);
    h.socket().open();
    await settle();

    expect(h.socket().frames('createConversation')).toEqual([]);
  });

  it('refuses a frame over 32 KB instead of sending it (API Gateway would close the socket)', async () => {
    const h = harness();
    const socket = await h.connectNow();

    const { acked } = h.chat.send(C, '\u0000'.repeat(16 * 1024)); // 16 KiB, but six bytes each in JSON

    await expect(acked).rejects.toMatchObject({ code: 'payload_too_large' });
    expect(socket.frames('send')).toEqual([]);
  });
});
