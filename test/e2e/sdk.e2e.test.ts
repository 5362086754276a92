/**
 * The client SDK on the local runtime: what the app sees stays exactly once and in order through a socket
 * dropped mid-burst and a connection closed by the server, and two clients end with the same transcript
 * as the server's history.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ChatClient, type ChatMessage, connect } from '../../client';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/services';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';
import { range } from './chat-client';

const { runtime, track } = useLocalRuntime();

/** Opens an SDK client for `userId` and returns it with its API Gateway connection id once it is open. */
async function open(userId: string): Promise<{ chat: ChatClient; connectionId: () => string }> {
  const known = new Set(runtime().api.connectionIds());
  let current = '';
  const chat = connect({
    url: runtime().webSocketUrl,
    tokenProvider: () => runtime().issueToken(userId),
    WebSocket: WebSocket as never,
  });
  track(chat);
  chat.on('open', () => {
    const fresh = runtime()
      .api.connectionIds()
      .find((id) => !known.has(id));
    if (fresh !== undefined) {
      known.add(fresh);
      current = fresh;
    }
  });
  await expect.poll(() => current, { timeout: 20_000 }).not.toBe('');
  return { chat, connectionId: () => current };
}

/** What the app was shown for a conversation, in the order it was shown. */
function transcript(chat: ChatClient, conversationId: string, afterSeq = 0): ChatMessage[] {
  const shown: ChatMessage[] = [];
  chat.conversation(conversationId, { afterSeq }).on('message', (message) => shown.push(message));
  return shown;
}

/** The server's history of a conversation, oldest first, messages only. */
async function history(chat: ChatClient, conversationId: string): Promise<ChatMessage[]> {
  return (await chat.history(conversationId, { limit: 100 })).messages;
}

describe('the SDK on the local runtime', () => {
  it('shows every message once and in order when the sender socket drops mid-burst', async () => {
    // Prepare
    const [aliceId, bobId] = [uniqueUser('alice'), uniqueUser('bob')];
    const alice = await open(aliceId);
    const bob = await open(bobId);
    // Not a test of consent: bob lets anyone add him, so alice's group makes him a member at once.
    await bob.chat.setWhoCanAdd('anyone');
    const { conversationId } = await alice.chat.createConversation([bobId]);
    const shownToBob = transcript(bob.chat, conversationId);
    const shownToAlice = transcript(alice.chat, conversationId);
    const firstConnection = alice.connectionId();

    // Act: 30 sends; after the tenth the socket vanishes without a close frame.
    const sends = Array.from({ length: 30 }, (_, i) => {
      const sent = alice.chat.send(conversationId, `burst ${i + 1} ✓`);
      if (i === 9) runtime().api.dropConnection(alice.connectionId());
      return sent.acked;
    });
    const acks = await Promise.all(sends);

    // Assess
    expect(new Set(acks.map((ack) => ack.seq)).size).toBe(30);
    expect(alice.connectionId()).not.toBe(firstConnection);
    await expect.poll(() => shownToBob.length, { timeout: 30_000 }).toBe(30);
    await expect.poll(() => shownToAlice.length, { timeout: 30_000 }).toBe(30);
    expect(shownToBob.map((m) => m.seq)).toEqual(range(30));
    expect(shownToBob.map((m) => m.body)).toEqual(range(30).map((n) => `burst ${n} ✓`));
    expect(shownToAlice).toEqual(shownToBob);
    expect(await history(bob.chat, conversationId)).toEqual(shownToBob);
  }, 90_000);

  it('resumes after the server closes the connection through the management API, missing nothing', async () => {
    // Prepare
    const [aliceId, bobId] = [uniqueUser('alice'), uniqueUser('bob')];
    const alice = await open(aliceId);
    const bob = await open(bobId);
    // Not a test of consent: bob lets anyone add him, so alice's group makes him a member at once.
    await bob.chat.setWhoCanAdd('anyone');
    const { conversationId } = await alice.chat.createConversation([bobId]);
    const shownToBob = transcript(bob.chat, conversationId);
    await alice.chat.send(conversationId, 'before').acked;
    await expect.poll(() => shownToBob.length, { timeout: 20_000 }).toBe(1);
    const reconnected = new Promise<void>((resolve) => bob.chat.on('open', () => resolve()));
    const management = new ApiGatewayManagementApiClient({
      endpoint: runtime().managementEndpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });

    // Act: the server closes bob's connection, and alice sends while bob is away.
    await management.send(new DeleteConnectionCommand({ ConnectionId: bob.connectionId() }));
    await Promise.all(
      ['while away 1', 'while away 2'].map((body) => alice.chat.send(conversationId, body).acked),
    );
    await reconnected;
    await alice.chat.send(conversationId, 'after').acked;

    // Assess
    await expect.poll(() => shownToBob.map((m) => m.body), { timeout: 30_000 }).toHaveLength(4);
    expect(shownToBob.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(shownToBob[0]?.body).toBe('before');
    expect(shownToBob[3]?.body).toBe('after');
    expect(
      shownToBob
        .slice(1, 3)
        .map((m) => m.body)
        .sort(),
    ).toEqual(['while away 1', 'while away 2']);
  }, 90_000);

  it('leaves two chatting clients with identical transcripts, equal to the history', async () => {
    // Prepare
    const [aliceId, bobId] = [uniqueUser('alice'), uniqueUser('bob')];
    const alice = await open(aliceId);
    const bob = await open(bobId);
    // Not a test of consent: bob lets anyone add him, so alice's group makes him a member at once.
    await bob.chat.setWhoCanAdd('anyone');
    const { conversationId } = await alice.chat.createConversation([bobId], 'Both ways');
    const shownToAlice = transcript(alice.chat, conversationId);
    const shownToBob = transcript(bob.chat, conversationId);

    // Act: both type at once, in any language.
    const bodies = ['hello 👋', 'שלום', '你好', 'e\u0301', '🇯🇵🏳️‍🌈'];
    await Promise.all(
      bodies.flatMap((body) => [
        alice.chat.send(conversationId, `alice: ${body}`).acked,
        bob.chat.send(conversationId, `bob: ${body}`).acked,
      ]),
    );

    // Assess
    await expect.poll(() => shownToAlice.length, { timeout: 30_000 }).toBe(10);
    await expect.poll(() => shownToBob.length, { timeout: 30_000 }).toBe(10);
    expect(shownToAlice).toEqual(shownToBob);
    expect(shownToAlice.map((m) => m.seq)).toEqual(range(10));
    expect(await history(alice.chat, conversationId)).toEqual(shownToAlice);
    const listed = await bob.chat.listConversations();
    expect(listed.conversations.find((c) => c.conversationId === conversationId)).toMatchObject({
      title: 'Both ways',
      lastSeq: 10,
    });
  }, 90_000);
});

describe('direct conversations and read cursors', () => {
  it('gives a pair one direct conversation, and counts unread from a cursor that never moves back', async () => {
    // Prepare
    const [aliceId, bobId] = [uniqueUser('alice'), uniqueUser('bob')];
    const alice = await open(aliceId);
    const bob = await open(bobId);

    // Act: both open the pair's conversation at once, then again; alice sends three.
    const [fromAlice, fromBob] = await Promise.all([
      alice.chat.openDirect(bobId),
      bob.chat.openDirect(aliceId),
    ]);
    const again = await alice.chat.openDirect(bobId);
    for (const body of ['one', 'two', 'three']) await alice.chat.send(fromAlice.conversationId, body).acked;
    const unreadBefore = await bob.chat.listConversations();
    const moved = await bob.chat.markRead(fromAlice.conversationId, 2);
    const back = await bob.chat.markRead(fromAlice.conversationId, 1);
    const pastTheEnd = await bob.chat
      .markRead(fromAlice.conversationId, 1_000)
      .catch((error: unknown) => error);
    const unreadAfter = await bob.chat.listConversations();

    // Assess
    expect(fromBob.conversationId).toBe(fromAlice.conversationId);
    expect(again.conversationId).toBe(fromAlice.conversationId);
    expect(fromAlice).toMatchObject({ direct: true, members: expect.arrayContaining([aliceId, bobId]) });
    const entry = (list: typeof unreadBefore) =>
      list.conversations.find((c) => c.conversationId === fromAlice.conversationId);
    expect(entry(unreadBefore)).toMatchObject({ direct: true, lastSeq: 3, readSeq: 0, unread: 3 });
    expect(moved).toMatchObject({ readSeq: 2, moved: true });
    expect(back).toMatchObject({ readSeq: 2, moved: false });
    expect(pastTheEnd).toMatchObject({ code: 'invalid_request' });
    expect(entry(unreadAfter)).toMatchObject({ readSeq: 2, unread: 1 });
    await expect(
      alice.chat.addMembers(fromAlice.conversationId, [uniqueUser('carol')]),
    ).rejects.toMatchObject({
      code: 'invalid_request',
    });
  }, 90_000);
});

describe('the SDK outbox on the local runtime: attachments in order, edit and delete by clientMessageId', () => {
  /** A 1×1 transparent PNG. */
  const PNG = Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
    'base64',
  );

  it('stores a picture before the text typed right after it, though the picture uploads first', async () => {
    // Prepare
    const alice = await open(uniqueUser('alice'));
    const { conversationId } = await alice.chat.openDirect(uniqueUser('bob'));

    // Act: the text is typed while the picture is still uploading.
    const picture = alice.chat.attach(
      conversationId,
      new Uint8Array(PNG),
      'image/png',
      'here is the picture',
    );
    const text = alice.chat.send(conversationId, 'see the picture above?');
    const queued = alice.chat.outbox(conversationId);
    const [pictureAck, textAck] = await Promise.all([picture, text]);

    // Assess
    expect(queued).toMatchObject([
      { body: 'here is the picture', uploading: true, file: { contentType: 'image/png', size: PNG.length } },
      { body: 'see the picture above?' },
    ]);
    expect(pictureAck.seq).toBeLessThan(textAck.seq);
    expect(
      (await history(alice.chat, conversationId)).map((m) => [m.body, m.attachment?.contentType]),
    ).toEqual([
      ['here is the picture', 'image/png'],
      ['see the picture above?', undefined],
    ]);
  }, 90_000);

  it('edits and deletes messages by clientMessageId, before, during and after their send', async () => {
    // Prepare
    const alice = await open(uniqueUser('alice'));
    const { conversationId } = await alice.chat.openDirect(uniqueUser('bob'));

    // Act: the first is on the wire when edited, the second waits behind it; the third is acked.
    const first = alice.chat.send(conversationId, 'helo');
    const second = alice.chat.send(conversationId, 'wrnog');
    const third = alice.chat.send(conversationId, 'gone soon');
    const duringSend = alice.chat.edit(conversationId, first.clientMessageId, 'hello');
    const beforeSend = await alice.chat.delete(conversationId, second.clientMessageId);
    await third;
    const afterAck = await alice.chat.delete(conversationId, third.clientMessageId);

    // Assess
    expect(beforeSend).toMatchObject({ inOutbox: true });
    await expect(second).rejects.toMatchObject({ code: 'cancelled' });
    await expect(duringSend).resolves.toMatchObject({ seq: (await first).seq });
    expect(afterAck).toMatchObject({ seq: (await third).seq });
    const page = await alice.chat.request('history', { conversationId, limit: 10 });
    expect(page.messages.map((m) => ('tombstone' in m ? 'tombstone' : m.body))).toEqual([
      'hello',
      'tombstone',
    ]);
  }, 90_000);
});

describe('the conversation state on the local runtime', () => {
  it("shows each client the other's typing, read cursor and presence, and nobody online while its own connection is down", async () => {
    // Prepare
    const [aliceId, bobId] = [uniqueUser('alice'), uniqueUser('bob')];
    const both = [aliceId, bobId].sort();
    const alice = await open(aliceId);
    const bob = await open(bobId);
    // Not a test of consent: bob lets anyone add him, so alice's group makes him a member at once.
    await bob.chat.setWhoCanAdd('anyone');
    const { conversationId } = await alice.chat.createConversation([bobId], 'State');
    await alice.chat.send(conversationId, 'hello').acked;
    const aliceRoom = alice.chat.conversation(conversationId);
    const bobRoom = bob.chat.conversation(conversationId);
    const onlineSeenByAlice: string[][] = [];
    aliceRoom.on('state', ({ online }) => onlineSeenByAlice.push([...online]));
    await Promise.all([aliceRoom.ready, bobRoom.ready]);
    await expect.poll(() => [...aliceRoom.state.online].sort(), { timeout: 20_000 }).toEqual(both);

    // Act: bob types and reads; then alice's connection is closed by the server and comes back.
    await bob.chat.typing(conversationId);
    await expect.poll(() => aliceRoom.state.typing, { timeout: 20_000 }).toEqual([bobId]);
    await bob.chat.markRead(conversationId, 1);
    await expect.poll(() => aliceRoom.seenBy(1), { timeout: 20_000 }).toEqual([bobId]);
    const reconnected = new Promise<void>((resolve) => alice.chat.on('open', () => resolve()));
    const management = new ApiGatewayManagementApiClient({
      endpoint: runtime().managementEndpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    const beforeDrop = onlineSeenByAlice.length;
    await management.send(new DeleteConnectionCommand({ ConnectionId: alice.connectionId() }));
    await reconnected;

    // Assess
    expect([...aliceRoom.state.members].sort()).toEqual(both);
    expect(aliceRoom.state.readSeqs).toMatchObject({ [bobId]: 1 });
    expect(bobRoom.state.typing).toEqual([]);
    await expect.poll(() => onlineSeenByAlice.slice(beforeDrop), { timeout: 20_000 }).toContainEqual([]);
    await expect.poll(() => [...aliceRoom.state.online].sort(), { timeout: 20_000 }).toEqual(both);
    bob.chat.close();
    await expect.poll(() => aliceRoom.state.online, { timeout: 20_000 }).toEqual([aliceId]);
    expect(bobRoom.state.lastSeq).toBe(1);
  }, 90_000);
});
