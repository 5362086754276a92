import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { useLocalRuntime } from '../support/local-runtime';
import { ChatClient, HandshakeRefusedError, range } from './chat-client';
import {
  connectAs,
  connectionStored,
  connectWithId,
  countItems,
  createConversation,
  letAnyoneAdd,
  sendMessage,
} from './helpers';

const { runtime, track } = useLocalRuntime();
// Not a test of consent: the users these tests add to groups let anyone add them.
beforeAll(() =>
  letAnyoneAdd(runtime(), [
    'bob',
    'carol',
    'dave',
    'erin',
    'ivan',
    'judy',
    ...range(20).map((n) => `sender-${n}`),
  ]),
);

/** Stored seqs of a conversation, read straight from DynamoDB Local. */
async function storedSeqs(conversationId: string): Promise<number[]> {
  const ddb = runtime().clients.dynamodb;
  const seqs: number[] = [];
  let startKey: Record<string, never> | undefined;
  do {
    const page = await ddb.send(
      new QueryCommand({
        TableName: runtime().tables.messages,
        KeyConditionExpression: 'conversationId = :c',
        ExpressionAttributeValues: { ':c': { S: conversationId } },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) seqs.push(Number(item.seq?.N));
    startKey = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (startKey !== undefined);
  return seqs;
}

describe('two users chat through the local runtime', () => {
  it('delivers a message from alice to bob with a server-assigned seq', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'alice'));
    const bob = await track(connectAs(runtime(), 'bob'));
    const conversationId = await createConversation(alice, ['bob']);
    const subscribed = await bob.request({ action: 'subscribe', conversationId });
    // Act
    const ack = await sendMessage(alice, conversationId, 'hello-1', 'Hi Bob');
    // Assess
    expect(subscribed).toMatchObject({ type: 'ack', action: 'subscribe', messages: [], lastSeq: 0 });
    expect(ack).toMatchObject({ type: 'ack', action: 'send', conversationId, seq: 1, duplicate: false });
    await expect.poll(() => bob.messages(conversationId), { timeout: 10_000 }).toHaveLength(1);
    expect(bob.messages(conversationId)[0]).toMatchObject({
      type: 'message',
      conversationId,
      seq: 1,
      senderId: 'alice',
      body: 'Hi Bob',
    });
  });

  it('returns the original seq when a send is retried with the same clientMessageId', async () => {
    const alice = await track(connectAs(runtime(), 'alice'));
    const conversationId = await createConversation(alice, ['bob']);

    const first = await sendMessage(alice, conversationId, 'retry-me', 'once');
    const retry = await sendMessage(alice, conversationId, 'retry-me', 'once');

    expect(first).toMatchObject({ type: 'ack', seq: 1, duplicate: false });
    expect(retry).toMatchObject({ type: 'ack', seq: 1, duplicate: true, sentAt: first.sentAt });
    expect(await storedSeqs(conversationId)).toEqual([1]);
  });

  it('refuses with conflict, storing nothing, a clientMessageId reused for another body', async () => {
    const alice = await track(connectAs(runtime(), 'alice'));
    const conversationId = await createConversation(alice, ['bob']);
    await sendMessage(alice, conversationId, 'reused', 'the first message');

    const reused = await sendMessage(alice, conversationId, 'reused', 'a different message');

    expect(reused).toMatchObject({ type: 'error', code: 'conflict', retryable: false });
    expect(await storedSeqs(conversationId)).toEqual([1]);
  });
});

describe('twenty concurrent senders in one conversation', () => {
  it('stores exactly seqs 1..500 and every subscriber receives all 500', async () => {
    // Prepare
    const users = range(20).map((n) => `sender-${n}`);
    const owner = await track(connectAs(runtime(), users[0] ?? 'sender-1'));
    const conversationId = await createConversation(owner, users.slice(1));
    const senders = await Promise.all(users.map((user) => track(connectAs(runtime(), user))));
    await Promise.all(senders.map((client) => client.request({ action: 'subscribe', conversationId })));
    // Act
    const acks = await Promise.all(
      senders.map(async (client, index) => {
        const replies = [];
        for (let n = 1; n <= 25; n++)
          replies.push(await sendMessage(client, conversationId, `s${index}-m${n}`, `${n}`));
        return replies;
      }),
    );
    // Assess
    const ackedSeqs = acks.flat().map((reply) => Number(reply.seq));
    expect(acks.flat().every((reply) => reply.type === 'ack')).toBe(true);
    expect([...ackedSeqs].sort((a, b) => a - b)).toEqual(range(500));
    expect((await storedSeqs(conversationId)).sort((a, b) => a - b)).toEqual(range(500));
    for (const client of senders) {
      await expect
        .poll(() => client.seqs(conversationId).length, { timeout: 120_000, interval: 250 })
        .toBe(500);
      expect(client.seqs(conversationId)).toEqual(range(500));
    }
  }, 240_000);
});

describe('a subscriber that was offline', () => {
  it('gets the backlog after its last seq and then live messages, with no gap', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'alice'));
    const conversationId = await createConversation(alice, ['carol']);
    const carol = await track(connectAs(runtime(), 'carol'));
    await carol.request({ action: 'subscribe', conversationId });
    await sendMessage(alice, conversationId, 'm1', 'one');
    await sendMessage(alice, conversationId, 'm2', 'two');
    await expect.poll(() => carol.seqs(conversationId), { timeout: 10_000 }).toEqual([1, 2]);
    await carol.close();
    // Act: messages arrive while carol is away, then she resumes from seq 2
    for (const n of [3, 4, 5]) await sendMessage(alice, conversationId, `m${n}`, `${n}`);
    const back = await track(connectAs(runtime(), 'carol'));
    const resumed = await back.request({ action: 'subscribe', conversationId, afterSeq: 2 });
    await sendMessage(alice, conversationId, 'm6', 'six');
    // Assess
    expect((resumed.messages as { seq: number }[]).map((m) => m.seq)).toEqual([3, 4, 5]);
    await expect.poll(() => back.seqs(conversationId), { timeout: 10_000 }).toContain(6);
    // Delivery is at least once (G4): seq 5's fan-out may still be running when carol subscribes, so it
    // can come live as well as in the backlog; nothing at or below her cursor comes again.
    expect(back.seqs(conversationId).every((seq) => seq > 2 && seq <= 6)).toBe(true);
    const shown = new Set([
      1,
      2,
      ...(resumed.messages as { seq: number }[]).map((m) => m.seq),
      ...back.seqs(conversationId),
    ]);
    expect([...shown].sort((a, b) => a - b)).toEqual(range(6));
  });
});

describe('a connection that vanished without $disconnect', () => {
  it('is removed on the first 410 while the others still receive', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'alice'));
    const conversationId = await createConversation(alice, ['dave', 'erin']);
    const { client: dave, connectionId: daveConnectionId } = await connectWithId(runtime(), 'dave');
    track(dave);
    const erin = await track(connectAs(runtime(), 'erin'));
    await dave.request({ action: 'subscribe', conversationId });
    await erin.request({ action: 'subscribe', conversationId });
    const storedBeforeDrop = await connectionStored(runtime(), daveConnectionId);
    const subscriptionsBefore = await countItems(runtime(), runtime().tables.subscriptions);
    // Act
    runtime().api.dropConnection(daveConnectionId);
    await sendMessage(alice, conversationId, 'after-drop', 'anyone there?');
    // Assess
    expect(storedBeforeDrop).toBe(true);
    await expect.poll(() => erin.seqs(conversationId), { timeout: 10_000 }).toEqual([1]);
    await expect
      .poll(() => countItems(runtime(), runtime().tables.subscriptions), { timeout: 10_000 })
      .toBe(subscriptionsBefore - 1);
    await expect.poll(() => connectionStored(runtime(), daveConnectionId), { timeout: 10_000 }).toBe(false);
    expect(dave.seqs(conversationId)).toEqual([]);
  });
});

describe('a connection that keeps failing while others receive', () => {
  it('is closed so the conversation goes on, and gets the message back by resuming with afterSeq', async () => {
    // Prepare: ivan's connection answers 500 to every post, judy's works
    const alice = await track(connectAs(runtime(), 'alice'));
    const conversationId = await createConversation(alice, ['ivan', 'judy']);
    const { client: ivan, connectionId: ivanConnectionId } = await connectWithId(runtime(), 'ivan');
    track(ivan);
    const judy = await track(connectAs(runtime(), 'judy'));
    await ivan.request({ action: 'subscribe', conversationId });
    await judy.request({ action: 'subscribe', conversationId });
    runtime().api.injectPostFailure(ivanConnectionId, 500);
    // Act
    await sendMessage(alice, conversationId, 'first', 'one');
    await sendMessage(alice, conversationId, 'second', 'two');
    // Assess: judy is not held up behind retries, ivan is disconnected, and resuming repairs his gap
    await expect.poll(() => judy.seqs(conversationId), { timeout: 20_000 }).toEqual([1, 2]);
    await expect.poll(() => ivan.closeCode, { timeout: 10_000 }).toBeDefined();
    await expect.poll(() => connectionStored(runtime(), ivanConnectionId), { timeout: 10_000 }).toBe(false);
    const back = await track(connectAs(runtime(), 'ivan'));
    const resumed = await back.request({ action: 'subscribe', conversationId, afterSeq: 0 });
    expect((resumed.messages as { seq: number }[]).map((m) => m.seq)).toEqual([1, 2]);
  });
});

describe('bad input is refused and writes nothing', () => {
  it('refuses a handshake without a token, with a forged token and with an expired token', async () => {
    const forged = (await runtime().issueToken('mallory')).replace(/\.[^.]+$/, '.c2lnbmF0dXJl');
    const expired = await runtime().issueToken('mallory', { expiresInSeconds: -60 });
    const connectionsBefore = await countItems(runtime(), runtime().tables.connections);

    const attempts = [
      ChatClient.connect(runtime().webSocketUrl),
      ChatClient.connect(`${runtime().webSocketUrl}?token=${forged}`),
      ChatClient.connect(`${runtime().webSocketUrl}?token=${expired}`),
      ChatClient.connect(`${runtime().webSocketUrl}?token=not-a-jwt`),
    ];
    const outcomes = await Promise.allSettled(attempts);

    expect(
      outcomes.map((outcome) => (outcome.status === 'rejected' ? outcome.reason : outcome.value)),
    ).toEqual(attempts.map(() => new HandshakeRefusedError(401)));
    expect(await countItems(runtime(), runtime().tables.connections)).toBe(connectionsBefore);
  });

  it('answers each bad frame with its documented error code and stores nothing', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'alice'));
    const mallory = await track(connectAs(runtime(), 'mallory'));
    const conversationId = await createConversation(alice, ['bob']);
    const messagesBefore = await countItems(runtime(), runtime().tables.messages);
    const subscriptionsBefore = await countItems(runtime(), runtime().tables.subscriptions);
    // Act
    const nonMemberSend = await mallory.request({
      action: 'send',
      conversationId,
      clientMessageId: 'x',
      body: 'hi',
    });
    const nonMemberSubscribe = await mallory.request({ action: 'subscribe', conversationId });
    const nonMemberHistory = await mallory.request({ action: 'history', conversationId });
    const unknownAction = await mallory.request({ action: 'dance' });
    const wrongType = await alice.request({ action: 'send', conversationId, clientMessageId: 'y', body: 42 });
    const oversizeBody = await alice.request({
      action: 'send',
      conversationId,
      clientMessageId: 'z',
      body: 'x'.repeat(17 * 1024),
    });
    mallory.sendRaw('{"action":"send",');
    // Assess
    expect(nonMemberSend).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(nonMemberSubscribe).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(nonMemberHistory).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(unknownAction).toMatchObject({ type: 'error', code: 'unknown_action' });
    expect(wrongType).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(oversizeBody).toMatchObject({ type: 'error', code: 'payload_too_large' });
    await expect
      .poll(() => mallory.frames.some((frame) => frame.code === 'invalid_json'), { timeout: 5_000 })
      .toBe(true);
    expect(await countItems(runtime(), runtime().tables.messages)).toBe(messagesBefore);
    expect(await countItems(runtime(), runtime().tables.subscriptions)).toBe(subscriptionsBefore);
  });

  it('closes the socket with 1009 when a frame is over 32 KB', async () => {
    const alice = await track(connectAs(runtime(), 'alice'));
    const messagesBefore = await countItems(runtime(), runtime().tables.messages);

    alice.sendRaw(
      JSON.stringify({
        action: 'send',
        conversationId: 'c',
        clientMessageId: 'big',
        body: 'x'.repeat(40_000),
      }),
    );

    await expect.poll(() => alice.closeCode, { timeout: 5_000 }).toBe(1009);
    expect(await countItems(runtime(), runtime().tables.messages)).toBe(messagesBefore);
  });
});
