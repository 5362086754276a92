/**
 * What hostile testing found, end to end on the local runtime: any text travels byte for byte (G10),
 * a subscribe racing `$disconnect` leaves nothing behind, one group size on every path, look-alike ids,
 * and `hasMore` that means there is more.
 */
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';
import type { Frame } from './chat-client';
import { connectAs, connectWithId, createConversation, letAnyoneAdd, sendMessage } from './helpers';

const { runtime, track } = useLocalRuntime();

/** Every kind of text a chat carries, with the 4-byte characters right at the body limit. */
const CORPUS: [string, string][] = [
  ['an emoji', '👍'],
  ['emoji with skin tones', '👋🏻👋🏼👋🏽👋🏾👋🏿'],
  ['ZWJ sequences', '👩🏽‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🧑🏿‍🤝‍🧑🏻'],
  ['flags', '🇯🇵🇧🇷🇺🇦🇪🇺 🏴󠁧󠁢󠁳󠁣󠁴󠁿'],
  ['CJK', '你好，世界。こんにちは、世界！안녕하세요 𠜎𠜱𠝹'],
  ['Arabic and Hebrew (RTL) mixed with LTR', 'مرحبا بالعالم — שלום עולם — hello 123'],
  ['combining marks', 'e\u0301 a\u0308 Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇ क्षि'],
  ['characters SQS refuses in a raw body', 'nul \u0000 bell \u0007 \uFFFE \uFFFF end'],
  ['line and paragraph separators', 'a\u2028b\u2029c\r\n\ttab'],
  ['4-byte characters exactly at the body limit', '𝄞'.repeat(LIMITS.maxBodyBytes / 4)],
];

describe('G10: any well-formed text travels end to end byte for byte', () => {
  it('stores, pushes and reads back every body of a multilingual corpus', async () => {
    // Prepare
    const [aliceId, bobId] = [uniqueUser('alice'), uniqueUser('bob')];
    const alice = await track(connectAs(runtime(), aliceId));
    const bob = await track(connectAs(runtime(), bobId));
    await letAnyoneAdd(runtime(), [bobId]);
    const conversationId = await createConversation(alice, [bobId]);
    await bob.request({ action: 'subscribe', conversationId });

    // Act
    const acks: Frame[] = [];
    for (const [index, [, body]] of CORPUS.entries()) {
      acks.push(await sendMessage(alice, conversationId, `corpus-${index}`, body));
    }

    // Assess
    expect(acks.map((ack) => ack.type)).toEqual(CORPUS.map(() => 'ack'));
    await expect.poll(() => bob.seqs(conversationId), { timeout: 20_000 }).toHaveLength(CORPUS.length);
    const pushed = new Map(bob.messages(conversationId).map((frame) => [Number(frame.seq), frame.body]));
    const history = await alice.request({ action: 'history', conversationId, limit: 100 });
    const read = new Map((history.messages as Frame[]).map((message) => [Number(message.seq), message.body]));
    CORPUS.forEach(([, body], index) => {
      const seq = Number(acks[index]?.seq);
      expect(Buffer.from(String(pushed.get(seq)))).toEqual(Buffer.from(body));
      expect(Buffer.from(String(read.get(seq)))).toEqual(Buffer.from(body));
    });
    const { Attributes } = await runtime().clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: runtime().queues.deadLetter.url,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(Attributes?.ApproximateNumberOfMessages).toBe('0');
  }, 60_000);

  it('refuses a body with a lone surrogate with invalid_request and stores nothing', async () => {
    // Prepare: JSON may escape a surrogate half on its own; no UTF-8 can carry it.
    const aliceId = uniqueUser('alice');
    const alice = await track(connectAs(runtime(), aliceId));
    const conversationId = await createConversation(alice, [uniqueUser('bob')]);

    // Act
    alice.sendRaw(
      `{"action":"send","requestId":"lone","conversationId":"${conversationId}",` +
        '"clientMessageId":"lone-1","body":"broken \\ud83d here"}',
    );

    // Assess
    await expect
      .poll(() => alice.frames.find((frame) => frame.requestId === 'lone'), { timeout: 10_000 })
      .toMatchObject({ type: 'error', code: 'invalid_request', retryable: false });
    const subscribed = await alice.request({ action: 'subscribe', conversationId, afterSeq: 0 });
    expect(subscribed).toMatchObject({ type: 'ack', messages: [], lastSeq: 0 });
  });
});

describe('a subscribe racing $disconnect', () => {
  it('never leaves a subscription behind for a connection that is gone', async () => {
    // Prepare
    const ownerId = uniqueUser('owner');
    const owner = await track(connectAs(runtime(), ownerId));
    // 40 sockets, as many per member as the per-user connection cap lets one user open.
    const perMember = LIMITS.maxConnectionsPerUser;
    const memberIds = Array.from({ length: Math.ceil(40 / perMember) }, () => uniqueUser('member'));
    await letAnyoneAdd(runtime(), memberIds);
    const conversationId = await createConversation(owner, memberIds);
    const sockets = await Promise.all(
      memberIds.flatMap((memberId) =>
        Array.from({ length: perMember }, () => connectWithId(runtime(), memberId)),
      ),
    );

    // Act: each socket subscribes and drops at once, so $disconnect runs while subscribe is in flight.
    for (const { client } of sockets) {
      client.sendRaw(JSON.stringify({ action: 'subscribe', conversationId }));
      setImmediate(() => client.socket.terminate());
    }

    // Assess: once every connection is gone, none of them is still a subscriber.
    const ids = new Set(sockets.map(({ connectionId }) => connectionId));
    await expect
      .poll(
        () =>
          runtime()
            .api.connectionIds()
            .filter((id) => ids.has(id)),
        { timeout: 30_000 },
      )
      .toEqual([]);
    await expect.poll(() => subscribersOf(conversationId), { timeout: 30_000, interval: 500 }).toEqual([]);
  }, 60_000);
});

/** The connection ids subscribed to a conversation, read straight from DynamoDB Local. */
async function subscribersOf(conversationId: string): Promise<string[]> {
  const { Items = [] } = await runtime().clients.dynamodb.send(
    new QueryCommand({
      TableName: runtime().tables.subscriptions,
      KeyConditionExpression: 'conversationId = :c',
      ExpressionAttributeValues: { ':c': { S: conversationId } },
      ConsistentRead: true,
    }),
  );
  return Items.map((item) => String(item.connectionId?.S));
}

describe('one maximum group size on every path', () => {
  it(`creates a group of ${LIMITS.maxGroupSize} in one call and refuses one member more, by create or by add`, async () => {
    // Prepare
    const creatorId = uniqueUser('creator');
    const creator = await track(connectAs(runtime(), creatorId));
    const others = Array.from({ length: LIMITS.maxGroupSize - 1 }, (_, i) => uniqueUser(`m${i}`));
    const [late, extra] = [uniqueUser('late'), uniqueUser('extra')];
    await letAnyoneAdd(runtime(), [...others, late, extra]);

    // Act
    const full = await creator.request({ action: 'createConversation', members: others });
    const conversationId = String((full.conversation as Frame | undefined)?.conversationId);
    const addOne = await creator.request({ action: 'addMembers', conversationId, members: [late] });
    const tooBig = await creator.request({ action: 'createConversation', members: [...others, extra] });

    // Assess
    expect(full).toMatchObject({ type: 'ack' });
    expect((full.conversation as Frame).members).toHaveLength(LIMITS.maxGroupSize);
    expect(addOne).toMatchObject({ type: 'error', code: 'limit_exceeded', retryable: false });
    expect(tooBig).toMatchObject({ type: 'error', code: 'limit_exceeded', retryable: false });
  });

  it('lets concurrent adds fill a group exactly to the limit and no further', async () => {
    // Prepare: a group one short of ten below the limit, and twenty people added at once.
    const creatorId = uniqueUser('creator');
    const creator = await track(connectAs(runtime(), creatorId));
    const start = Array.from({ length: LIMITS.maxGroupSize - 11 }, (_, i) => uniqueUser(`s${i}`));
    const joiners = Array.from({ length: 20 }, () => uniqueUser('joiner'));
    await letAnyoneAdd(runtime(), [...start, ...joiners]);
    const conversationId = await createConversation(creator, start);

    // Act
    const replies = await Promise.all(
      joiners.map((joiner) => creator.request({ action: 'addMembers', conversationId, members: [joiner] })),
    );

    // Assess: 10 fit (the creator plus start plus 10 = the limit), the other 10 are refused.
    const added = replies.filter((reply) => reply.type === 'ack');
    expect(added).toHaveLength(10);
    expect(replies.filter((reply) => reply.code === 'limit_exceeded')).toHaveLength(10);
  });
});

describe('look-alike user ids', () => {
  it.each([
    ['a zero-width space', 'alice\u200b'],
    ['a bidi override', '\u202Eecila'],
    ['a NUL', 'alice\u0000'],
    ['a no-break space', 'alice\u00a0'],
    ['a decomposed accent (not NFC)', 'Zoe\u0308'],
  ])('refuses a member id with %s with invalid_request', async (_case, memberId) => {
    // Prepare
    const creator = await track(connectAs(runtime(), uniqueUser('creator')));

    // Act
    const reply = await creator.request({ action: 'createConversation', members: [memberId] });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
  });
});

describe('history paging', () => {
  it('says hasMore only when there is more, so an exactly full last page ends the paging', async () => {
    // Prepare
    const aliceId = uniqueUser('alice');
    const alice = await track(connectAs(runtime(), aliceId));
    const conversationId = await createConversation(alice, [uniqueUser('bob')]);
    for (let i = 1; i <= 6; i++) await sendMessage(alice, conversationId, `page-${i}`, `message ${i}`);

    // Act
    const newest = await alice.request({ action: 'history', conversationId, limit: 3 });
    const oldest = await alice.request({ action: 'history', conversationId, limit: 3, beforeSeq: 4 });
    const backlog = await alice.request({ action: 'subscribe', conversationId, afterSeq: 0 });

    // Assess
    expect((newest.messages as Frame[]).map((m) => m.seq)).toEqual([4, 5, 6]);
    expect(newest.hasMore).toBe(true);
    expect((oldest.messages as Frame[]).map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(oldest.hasMore).toBe(false);
    expect((backlog.messages as Frame[]).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(backlog.hasMore).toBe(false);
  });
});
