import { beforeAll, describe, expect, it } from 'vitest';
import { useLocalRuntime } from '../support/local-runtime';
import type { ChatClient, Frame } from './chat-client';
import { connectAs, createConversation, letAnyoneAdd, sendMessage } from './helpers';

const { runtime, track } = useLocalRuntime();
// Not a test of consent: the users these tests add to groups let anyone add them.
beforeAll(() => letAnyoneAdd(runtime(), ['bob']));

/** Pushed frames about one conversation (messages, edits, deletes), in arrival order, batches unpacked. */
const pushes = (client: ChatClient, conversationId: string): Frame[] =>
  client
    .pushes(conversationId)
    .filter((frame) => ['message', 'edited', 'deleted'].includes(String(frame.type)));

describe('edit and delete through the local runtime', () => {
  it('pushes message, edited and deleted in that order, and history and the backlog show the latest version', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'alice'));
    const bob = await track(connectAs(runtime(), 'bob'));
    const conversationId = await createConversation(alice, ['bob']);
    await bob.request({ action: 'subscribe', conversationId });
    await sendMessage(alice, conversationId, 'm1', 'see you at 5');
    await sendMessage(alice, conversationId, 'm2', 'oops, wrong chat');

    // Act
    const edited = await alice.request({ action: 'edit', conversationId, seq: 1, body: 'see you at 6 🕕' });
    const editedHistory = await alice.request({ action: 'history', conversationId });
    const deleted = await alice.request({ action: 'delete', conversationId, seq: 2 });
    const deletedAgain = await alice.request({ action: 'delete', conversationId, seq: 2 });

    // Assess
    expect(edited).toMatchObject({ type: 'ack', action: 'edit', seq: 1, version: 1, duplicate: false });
    expect(deleted).toMatchObject({ type: 'ack', action: 'delete', seq: 2, version: 1, duplicate: false });
    expect(deletedAgain).toMatchObject({ type: 'ack', seq: 2, version: 1, duplicate: true });
    expect(editedHistory.messages).toMatchObject([
      { seq: 1, body: 'see you at 6 🕕', editedAt: edited.editedAt, version: 1 },
      { seq: 2, body: 'oops, wrong chat' },
    ]);
    // Each change after the message it changes, the messages in seq order. Message 2 and the edit of 1 may
    // come in one `batch` frame, which holds its pushes in seq order: edited:1 then message:2.
    await expect
      .poll(() => pushes(bob, conversationId).map((frame) => `${frame.type}:${frame.seq}`), {
        timeout: 10_000,
      })
      .toSatisfy(
        (order: string[]) =>
          [...order].sort().join() === 'deleted:2,edited:1,message:1,message:2' &&
          order.indexOf('message:1') < order.indexOf('message:2') &&
          order.indexOf('message:1') < order.indexOf('edited:1') &&
          order.indexOf('message:2') < order.indexOf('deleted:2'),
      );
    const editFrame = pushes(bob, conversationId).find((frame) => frame.type === 'edited');
    const deleteFrame = pushes(bob, conversationId).find((frame) => frame.type === 'deleted');
    expect(editFrame).toEqual({
      type: 'edited',
      conversationId,
      seq: 1,
      body: 'see you at 6 🕕',
      editedAt: edited.editedAt,
      version: 1,
    });
    expect(deleteFrame).toEqual({
      type: 'deleted',
      conversationId,
      seq: 2,
      deletedAt: deleted.deletedAt,
      version: 1,
    });
    const history = await bob.request({ action: 'history', conversationId });
    const backlog = await bob.request({ action: 'subscribe', conversationId, afterSeq: 0 });
    for (const page of [history, backlog]) {
      expect(page.messages).toEqual([
        expect.objectContaining({ seq: 1, senderId: 'alice', body: 'see you at 6 🕕', version: 1 }),
        {
          conversationId,
          seq: 2,
          tombstone: true,
          deleted: true,
          senderId: 'alice',
          deletedAt: deleted.deletedAt,
          version: 1,
        },
      ]);
    }
  });

  it("refuses bob's edit and delete of alice's message and changes nothing", async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'alice'));
    const bob = await track(connectAs(runtime(), 'bob'));
    const conversationId = await createConversation(alice, ['bob']);
    await sendMessage(alice, conversationId, 'm1', 'mine');

    // Act
    const edit = await bob.request({ action: 'edit', conversationId, seq: 1, body: 'hijacked' });
    const remove = await bob.request({ action: 'delete', conversationId, seq: 1 });
    const missing = await alice.request({ action: 'edit', conversationId, seq: 9, body: 'nothing there' });

    // Assess
    expect(edit).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
    expect(remove).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
    expect(missing).toMatchObject({ type: 'error', code: 'not_found', retryable: false });
    const history = await alice.request({ action: 'history', conversationId });
    expect(history.messages).toEqual([
      { conversationId, seq: 1, senderId: 'alice', body: 'mine', sentAt: expect.any(String) },
    ]);
  });
});
