import { describe, expect, it } from 'vitest';
import { drain } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';
import type { ChatClient, Frame } from './chat-client';
import { connectAs, createConversation, sendMessage } from './helpers';

const { runtime, track } = useLocalRuntime();

/** Pushed frames of one conversation that take a seq (messages and membership changes), in arrival order. */
const ordered = (client: ChatClient, conversationId: string): string[] =>
  client.frames
    .filter(
      (frame) =>
        frame.requestId === undefined &&
        ['message', 'membership'].includes(String(frame.type)) &&
        frame.conversationId === conversationId,
    )
    .map((frame) => (frame.type === 'message' ? `message:${frame.seq}` : `${frame.event}:${frame.seq}`));

const pushed = (client: ChatClient, type: string): Frame[] =>
  client.frames.filter((frame) => frame.type === type && frame.requestId === undefined);

describe('membership through the local runtime', () => {
  it('orders add, remove and leave with the messages; a removed member receives nothing more and can neither read nor send', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'alice'));
    const bob = await track(connectAs(runtime(), 'bob'));
    const carol = await track(connectAs(runtime(), 'carol'));
    const conversationId = await createConversation(alice, ['bob']);
    await alice.request({ action: 'subscribe', conversationId });
    await bob.request({ action: 'subscribe', conversationId });

    // Act
    await sendMessage(alice, conversationId, 'm1', 'hello');
    const added = await alice.request({ action: 'addMembers', conversationId, members: ['carol'] });
    await carol.request({ action: 'subscribe', conversationId });
    const bobRemovesCarol = await bob.request({ action: 'removeMember', conversationId, userId: 'carol' });
    const removed = await alice.request({ action: 'removeMember', conversationId, userId: 'bob' });
    await sendMessage(alice, conversationId, 'm2', 'bob cannot see this');
    const bobSends = await bob.request({
      action: 'send',
      conversationId,
      clientMessageId: 'b1',
      body: 'still here?',
    });
    const bobReads = await bob.request({ action: 'history', conversationId });
    const left = await carol.request({ action: 'leave', conversationId });
    // Resends whose acks were lost: answered as the first attempts were, recording nothing again.
    const leftAgain = await carol.request({ action: 'leave', conversationId });
    const removedAgain = await alice.request({ action: 'removeMember', conversationId, userId: 'bob' });
    const history = await alice.request({ action: 'history', conversationId });

    // Assess
    expect(added).toMatchObject({ type: 'ack', added: ['carol'], seq: 2 });
    expect(bobRemovesCarol).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(removed).toMatchObject({ type: 'ack', userId: 'bob', removed: true, seq: 3 });
    expect(bobSends).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(bobReads).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(left).toMatchObject({ type: 'ack', userId: 'carol', removed: true, seq: 5 });
    expect(leftAgain).toMatchObject({ type: 'ack', userId: 'carol', removed: true, seq: 5 });
    expect(removedAgain).toMatchObject({ type: 'ack', userId: 'bob', removed: true, seq: 3 });
    await expect
      .poll(() => ordered(alice, conversationId), { timeout: 10_000 })
      .toEqual(['message:1', 'member_added:2', 'member_removed:3', 'message:4', 'member_left:5']);
    expect(pushed(alice, 'membership').at(1)).toEqual({
      type: 'membership',
      conversationId,
      seq: 3,
      event: 'member_removed',
      userIds: ['bob'],
      by: 'alice',
      at: expect.any(String),
    });
    await drain(bob);
    // bob hears of his own removal, and of nothing after it.
    expect(ordered(bob, conversationId)).toEqual(['message:1', 'member_added:2', 'member_removed:3']);
    expect(history.messages).toMatchObject([
      { seq: 1, body: 'hello' },
      { seq: 2, tombstone: true, kind: 'member_added', userIds: ['carol'], by: 'alice' },
      { seq: 3, tombstone: true, kind: 'member_removed', userIds: ['bob'], by: 'alice' },
      { seq: 4, body: 'bob cannot see this' },
      { seq: 5, tombstone: true, kind: 'member_left', userIds: ['carol'], by: 'carol' },
    ]);
    const list = await alice.request({ action: 'presence', conversationId });
    expect(list).toMatchObject({ type: 'ack', online: ['alice'] });
  });

  it('tells the users a change names on their connections, subscribed there or not', async () => {
    // Prepare: hal is connected but subscribes to nothing; ivy subscribes to the conversation.
    const gil = await track(connectAs(runtime(), 'gil'));
    const hal = await track(connectAs(runtime(), 'hal'));
    const ivy = await track(connectAs(runtime(), 'ivy'));
    const conversationId = await createConversation(gil, ['ivy']);
    await ivy.request({ action: 'subscribe', conversationId });

    // Act
    await gil.request({ action: 'addMembers', conversationId, members: ['hal'] });
    await gil.request({ action: 'removeMember', conversationId, userId: 'ivy' });

    // Assess: hal hears he was added; ivy hears she was removed, once, though unsubscribed by then.
    const membershipOf = (client: typeof hal) =>
      client.frames.filter((frame) => frame.type === 'membership' && frame.conversationId === conversationId);
    await expect
      .poll(() => membershipOf(hal), { timeout: 10_000 })
      .toMatchObject([{ event: 'member_added', userIds: ['hal'], by: 'gil', seq: 1 }]);
    await expect
      .poll(() => membershipOf(ivy), { timeout: 10_000 })
      .toMatchObject([
        { event: 'member_added', userIds: ['hal'], seq: 1 },
        { event: 'member_removed', userIds: ['ivy'], by: 'gil', seq: 2 },
      ]);
    await drain(ivy);
    expect(membershipOf(ivy)).toHaveLength(2);
  });

  it('refuses removeMember and leave in a direct conversation', async () => {
    // Prepare
    const dora = await track(connectAs(runtime(), 'dora'));
    const created = await dora.request({ action: 'createConversation', direct: true, members: ['ed'] });
    const conversationId = String((created.conversation as Frame).conversationId);

    // Act
    const removed = await dora.request({ action: 'removeMember', conversationId, userId: 'ed' });
    const left = await dora.request({ action: 'leave', conversationId });

    // Assess
    expect(removed).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(left).toMatchObject({ type: 'error', code: 'invalid_request' });
  });
});

describe('read receipts through the local runtime', () => {
  it("tells the other subscribers when a member's read cursor moves, and only when it moves", async () => {
    // Prepare
    const fay = await track(connectAs(runtime(), 'fay'));
    const gus = await track(connectAs(runtime(), 'gus'));
    const conversationId = await createConversation(fay, ['gus']);
    await fay.request({ action: 'subscribe', conversationId });
    await gus.request({ action: 'subscribe', conversationId });
    await sendMessage(fay, conversationId, 'r1', 'read me');

    // Act
    const read = await gus.request({ action: 'read', conversationId, seq: 1 });
    const again = await gus.request({ action: 'read', conversationId, seq: 1 });
    await drain(fay);

    // Assess
    expect(read).toMatchObject({ type: 'ack', readSeq: 1, moved: true });
    expect(again).toMatchObject({ type: 'ack', readSeq: 1, moved: false });
    expect(pushed(fay, 'read')).toEqual([{ type: 'read', conversationId, userId: 'gus', seq: 1 }]);
    expect(pushed(gus, 'read')).toEqual([]);
  });
});
