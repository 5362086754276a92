/**
 * Sockets end with their tokens, on the local runtime: a frame after the token's exp is refused with
 * `token_expired` and the socket is closed, a push to a subscription past its exp closes it instead of
 * delivering, and the SDK, given a provider of short-lived tokens, delivers every message across the
 * expiries (all seqs, in order, once). The tests mostly wait for tokens to expire, each with users of its
 * own, so they run at once (each asserts with its own test's `expect`).
 */
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { describe, it, vi } from 'vitest';
import WebSocket from 'ws';
import { type ChatMessage, connect, type ChatClient as SdkClient, type TokenRequest } from '../../client';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';
import { ChatClient, range } from './chat-client';
import { connectAs, connectionStored, sendMessage } from './helpers';

const { runtime, track } = useLocalRuntime();

/** A token's exp in epoch ms (the test reads what the local issuer signed). */
function expiryOf(token: string): number {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
  return Number(payload.exp) * 1000;
}

/** The connection ids of `userId`, from the connections table's byUser index. */
async function connectionIdsOf(userId: string): Promise<string[]> {
  const { Items = [] } = await runtime().clients.dynamodb.send(
    new QueryCommand({
      TableName: runtime().tables.connections,
      IndexName: 'byUser',
      KeyConditionExpression: 'userId = :u',
      ExpressionAttributeValues: { ':u': { S: userId } },
    }),
  );
  return Items.map((item) => String(item.connectionId?.S));
}

/**
 * Opens the one raw socket of `userId` with a token that expires in `seconds`; returns it with its
 * connection id (looked up by user: the tests that run at once connect meanwhile).
 */
async function openExpiring(
  userId: string,
  seconds: number,
): Promise<{ client: ChatClient; connectionId: string; expiresAt: number }> {
  const token = await runtime().issueToken(userId, { expiresInSeconds: seconds });
  const client = await track(
    ChatClient.connect(`${runtime().webSocketUrl}?token=${encodeURIComponent(token)}`),
  );
  const [connectionId, ...others] = await connectionIdsOf(userId);
  if (connectionId === undefined || others.length > 0) throw new Error(`No one connection id for ${userId}`);
  return { client, connectionId, expiresAt: expiryOf(token) };
}

/** The direct conversation of the client's user with `userId` (anyone may open one: no invitation). */
async function openDirect(client: ChatClient, userId: string): Promise<string> {
  const reply = await client.request({ action: 'createConversation', members: [userId], direct: true });
  if (reply.type !== 'ack') throw new Error(`createConversation failed: ${JSON.stringify(reply)}`);
  return String((reply.conversation as { conversationId: string }).conversationId);
}

/** Resolves once the wall clock is past `epochMs`. */
async function pastExpiry(epochMs: number): Promise<void> {
  await vi.waitFor(
    () => {
      if (Date.now() <= epochMs) throw new Error(`Not yet past ${new Date(epochMs).toISOString()}`);
    },
    { timeout: 30_000, interval: 200 },
  );
}

describe.concurrent('a socket whose token expires', () => {
  it('answers frames before exp, refuses the first one after it with token_expired, and is closed', async ({
    expect,
  }) => {
    // Prepare
    const { client, connectionId, expiresAt } = await openExpiring(uniqueUser('alice'), 3);
    const before = await client.request({ action: 'listConversations' });
    await pastExpiry(expiresAt);

    // Act
    const after = await client.request({ action: 'listConversations' });

    // Assess
    expect(before.type).toBe('ack');
    expect(after).toMatchObject({
      type: 'error',
      code: 'token_expired',
      retryable: false,
      message: expect.stringMatching(/token has expired/),
    });
    await expect.poll(() => client.closeCode, { timeout: 20_000 }).toBeDefined();
    await expect.poll(() => connectionStored(runtime(), connectionId), { timeout: 20_000 }).toBe(false);
  });

  it('gets token_expired instead of a message pushed after its exp, and is closed', async ({ expect }) => {
    // Prepare
    const aliceId = uniqueUser('alice');
    const bobId = uniqueUser('bob');
    const alice = await track(connectAs(runtime(), aliceId));
    const conversationId = await openDirect(alice, bobId);
    const bob = await openExpiring(bobId, 3);
    const subscribed = await bob.client.request({ action: 'subscribe', conversationId, afterSeq: 0 });
    await pastExpiry(bob.expiresAt);

    // Act
    const sent = await sendMessage(alice, conversationId, 'after-bob-expired', 'hello?');

    // Assess
    expect(subscribed.type).toBe('ack');
    expect(sent.type).toBe('ack');
    await expect.poll(() => bob.client.closeCode, { timeout: 20_000 }).toBeDefined();
    expect(bob.client.frames).toContainEqual(
      expect.objectContaining({ type: 'error', code: 'token_expired' }),
    );
    expect(bob.client.messages(conversationId)).toEqual([]);
    await expect.poll(() => connectionStored(runtime(), bob.connectionId), { timeout: 20_000 }).toBe(false);
  });
});

describe.concurrent('the SDK with short-lived tokens', () => {
  /** An SDK client whose provider issues tokens valid `seconds`, recording why each was asked for. */
  function openSdk(userId: string, seconds: number): { chat: SdkClient; asked: TokenRequest[] } {
    const asked: TokenRequest[] = [];
    const chat = connect({
      url: runtime().webSocketUrl,
      tokenProvider: (request) => {
        asked.push(request);
        return runtime().issueToken(userId, { expiresInSeconds: seconds });
      },
      WebSocket: WebSocket as never,
    });
    track(chat);
    return { chat, asked };
  }

  it('delivers every message once and in order across several token expiries', async ({ expect }) => {
    // Prepare
    const [aliceId, bobId] = [uniqueUser('alice'), uniqueUser('bob')];
    const alice = openSdk(aliceId, 5);
    const bob = openSdk(bobId, 5);
    const { conversationId } = await alice.chat.openDirect(bobId);
    const shown: ChatMessage[] = [];
    bob.chat.conversation(conversationId, { afterSeq: 0 }).on('message', (message) => shown.push(message));
    const acked: number[] = [];

    // Act: three rounds of five messages, each round after the tokens of the one before have expired.
    for (let round = 0; round < 3; round++) {
      const startedAt = Date.now();
      const sends = Array.from(
        { length: 5 },
        (_, i) => alice.chat.send(conversationId, `round ${round + 1} message ${i + 1}`).acked,
      );
      acked.push(...(await Promise.all(sends)).map((ack) => ack.seq));
      await pastExpiry(startedAt + 6_000);
    }

    // Assess
    expect(new Set(acked).size).toBe(15);
    await expect.poll(() => shown.length, { timeout: 60_000 }).toBe(15);
    expect(shown.map((message) => message.seq)).toEqual(range(15));
    expect(shown.map((message) => message.body)).toEqual(
      [1, 2, 3].flatMap((round) => [1, 2, 3, 4, 5].map((i) => `round ${round} message ${i}`)),
    );
    expect(alice.asked.map((request) => request.reason)).toContain('expired');
    expect(bob.asked.map((request) => request.reason)).toContain('expired');
  });
});
