import { Logger } from '@aws-lambda-powertools/logger';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createConnectHandler } from '../../lambdas/connect/lifecycle';
import { createOfflineAnnouncer, createOnlineAnnouncer } from '../../lambdas/connect/presence';
import { createConversationsHandler } from '../../lambdas/conversations/routes';
import { postEphemeral } from '../../shared/ephemeral';
import { LIMITS } from '../../shared/limits';
import type { PostFn, PostResult } from '../../shared/poster';
import { META_SK, memberSk, TTL_ATTRIBUTE } from '../../shared/tables';
import { lifecycleEvent, routeEvent } from '../support/api-gateway';
import { routeKitFakes } from '../support/route-kit';

const tables = {
  conversations: 'conversations-t',
  subscriptions: 'subscriptions-t',
  connections: 'connections-t',
  messages: 'messages-t',
};
const NOW = new Date('2030-01-02T03:04:05.000Z');
const CONVERSATION = 'conv-1';
const CONNECTION = 'alice-1';

const ddbMock = mockClient(DynamoDBDocumentClient);
const sqsMock = mockClient(SQSClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const logger = new Logger({ serviceName: 'chat-ephemeral-test', logLevel: 'SILENT' });

const delivered: PostResult = { status: 'delivered', attempts: 1 };

/** A poster that records every post and answers `delivered`, or what `answers` says for a connection. */
function fakePoster(answers: Record<string, PostResult> = {}) {
  return vi.fn<PostFn>(async (connectionId) => answers[connectionId] ?? delivered);
}

function conversationsHandler(post: PostFn) {
  return createConversationsHandler({
    ddb,
    tables,
    logger,
    ...routeKitFakes(),
    clock: () => NOW,
    ephemeral: { post },
  });
}

async function call(post: PostFn, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const result = await conversationsHandler(post)(routeEvent({ body, connectionId: CONNECTION, at: NOW }));
  return JSON.parse(result.body) as Record<string, unknown>;
}

/** The conversation's subscriptions partition holds these (connection, user) pairs. */
function givenListeners(listeners: [connectionId: string, userId: string][]): void {
  ddbMock
    .on(QueryCommand, { TableName: tables.subscriptions })
    .resolves({ Items: listeners.map(([connectionId, userId]) => ({ connectionId, userId })) });
}

/** Listeners per conversation, as the subscriptions partition lists them. */
function givenListenersOf(byConversation: Record<string, [string, string][]>): void {
  ddbMock.on(QueryCommand, { TableName: tables.subscriptions }).callsFake((input) => {
    const listeners = byConversation[String(input.ExpressionAttributeValues?.[':c'])] ?? [];
    return { Items: listeners.map(([connectionId, userId]) => ({ connectionId, userId })) };
  });
}

/** The byUser index lists these connections per user (users not named have none). */
function givenIndexedConnections(byUser: Record<string, string[]>): void {
  ddbMock.on(QueryCommand, { TableName: tables.connections, IndexName: 'byUser' }).callsFake((input) => {
    const userId = String(input.ExpressionAttributeValues?.[':u']);
    return { Items: (byUser[userId] ?? []).map((connectionId) => ({ userId, connectionId })) };
  });
}

const conditionFailed = (Item?: Record<string, AttributeValue>) =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {}, Item });

/** The frames posted, as [connectionId, parsed frame] pairs. */
const postsOf = (post: ReturnType<typeof fakePoster>) =>
  post.mock.calls.map(([connectionId, data]) => [connectionId, JSON.parse(data)]);

beforeEach(() => {
  ddbMock.reset();
  sqsMock.reset();
});

describe('typing', () => {
  it('sets typingAt on the member item only if it exists and is older than the throttle window', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    givenListeners([]);

    // Act
    const reply = await call(fakePoster(), {
      action: 'typing',
      requestId: 't-1',
      conversationId: CONVERSATION,
    });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'typing',
      requestId: 't-1',
      conversationId: CONVERSATION,
      throttled: false,
    });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.conversations,
      Key: { conversationId: CONVERSATION, sk: memberSk('alice') },
      UpdateExpression: 'SET typingAt = :now',
      ConditionExpression:
        'attribute_exists(conversationId) AND (attribute_not_exists(typingAt) OR typingAt <= :cutoff)',
      ExpressionAttributeValues: {
        ':now': NOW.getTime(),
        ':cutoff': NOW.getTime() - LIMITS.typingThrottleMs,
      },
    });
  });

  it("posts a typing frame to the other users' connections, never to the sender's own", async () => {
    // Prepare: alice types on alice-1; alice-2 is her other tab.
    ddbMock.on(UpdateCommand).resolves({});
    givenListeners([
      [CONNECTION, 'alice'],
      ['alice-2', 'alice'],
      ['bob-1', 'bob'],
      ['carol-1', 'carol'],
    ]);
    const post = fakePoster();

    // Act
    const reply = await call(post, { action: 'typing', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', throttled: false });
    const frame = { type: 'typing', conversationId: CONVERSATION, userId: 'alice' };
    expect(postsOf(post)).toEqual([
      ['bob-1', frame],
      ['carol-1', frame],
    ]);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.subscriptions,
      KeyConditionExpression: 'conversationId = :c',
      ExpressionAttributeValues: { ':c': CONVERSATION },
      ConsistentRead: false,
    });
  });

  it('refuses a non-member with forbidden, and reads no listeners and posts nothing', async () => {
    // Prepare: no member item, so the condition fails with no old item.
    ddbMock.on(UpdateCommand).rejects(conditionFailed());
    const post = fakePoster();

    // Act
    const reply = await call(post, { action: 'typing', requestId: 't-2', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', requestId: 't-2', retryable: false });
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
    expect(post).not.toHaveBeenCalled();
  });

  it('acks a second typing within 3 s as throttled and posts nothing', async () => {
    // Prepare: the member item says alice typed 1 s ago.
    ddbMock.on(UpdateCommand).rejects(
      conditionFailed({
        conversationId: { S: CONVERSATION },
        sk: { S: memberSk('alice') },
        typingAt: { N: String(NOW.getTime() - 1_000) },
      }),
    );
    givenListeners([['bob-1', 'bob']]);
    const post = fakePoster();

    // Act
    const reply = await call(post, { action: 'typing', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({
      type: 'ack',
      action: 'typing',
      conversationId: CONVERSATION,
      throttled: true,
    });
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
    expect(post).not.toHaveBeenCalled();
  });

  it('never touches SQS and writes nothing but the sender’s typingAt: no message, no seq', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    givenListeners([['bob-1', 'bob']]);

    // Act
    await call(fakePoster(), { action: 'typing', conversationId: CONVERSATION });

    // Assess
    expect(sqsMock.calls()).toHaveLength(0);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
    expect(ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key)).toEqual([
      { conversationId: CONVERSATION, sk: memberSk('alice') },
    ]);
  });

  it('ignores a 410: the others still get the frame, and no cleanup is written', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    givenListeners([
      ['gone-1', 'bob'],
      ['carol-1', 'carol'],
    ]);
    const post = fakePoster({ 'gone-1': { status: 'gone', attempts: 1 } });

    // Act
    const reply = await call(post, { action: 'typing', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', throttled: false });
    expect(post.mock.calls.map(([connectionId]) => connectionId)).toEqual(['gone-1', 'carol-1']);
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteCommand);
  });

  it('answers only once every post has settled, so nothing is left running after the reply', async () => {
    // Prepare: the post to bob hangs until released.
    ddbMock.on(UpdateCommand).resolves({});
    givenListeners([['bob-1', 'bob']]);
    let release: () => void = () => undefined;
    const post = vi.fn<PostFn>(
      () =>
        new Promise((resolve) => {
          release = () => resolve(delivered);
        }),
    );
    let answered = false;

    // Act
    const reply = call(post, { action: 'typing', conversationId: CONVERSATION }).then((frame) => {
      answered = true;
      return frame;
    });
    await vi.waitFor(() => expect(post).toHaveBeenCalledTimes(1));
    await new Promise((resolve) => setImmediate(resolve));
    const answeredBeforeRelease = answered;
    release();

    // Assess
    expect(answeredBeforeRelease).toBe(false);
    expect(await reply).toMatchObject({ type: 'ack', throttled: false });
  });
});

describe('presence', () => {
  /** The conversation's member items, read by the members Query, with a read cursor where given. */
  function givenMembers(members: string[], readSeqs: Record<string, number> = {}): void {
    ddbMock.on(QueryCommand, { TableName: tables.conversations }).resolves({
      Items: members.map((memberId) =>
        memberId in readSeqs ? { memberId, readSeq: readSeqs[memberId] } : { memberId },
      ),
    });
  }

  /** The users' limits items, with these connection slots (connection id → expiresAt). */
  function givenSlots(slots: Record<string, Record<string, number>>): void {
    ddbMock.on(BatchGetCommand).resolves({
      Responses: {
        [tables.connections]: Object.entries(slots).map(([userId, live]) => ({
          connectionId: `USER#${userId}`,
          liveConnections: new Set(Object.entries(live).map(([id, expiresAt]) => `${expiresAt} ${id}`)),
        })),
      },
    });
  }
  const LATER = Math.floor(NOW.getTime() / 1000) + 3600;

  it('lists the members with a live connection, the caller included, in member order', async () => {
    // Prepare: carol's only slot is past its connection's TTL.
    givenMembers(['alice', 'bob', 'carol', 'dave']);
    givenSlots({
      bob: { 'bob-1': LATER, 'bob-2': LATER },
      carol: { 'carol-1': Math.floor(NOW.getTime() / 1000) },
      dave: { 'dave-1': LATER },
    });

    // Act
    const reply = await call(fakePoster(), {
      action: 'presence',
      requestId: 'p-1',
      conversationId: CONVERSATION,
    });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'presence',
      requestId: 'p-1',
      conversationId: CONVERSATION,
      online: ['alice', 'bob', 'dave'],
      readSeqs: [
        { userId: 'alice', readSeq: 0 },
        { userId: 'bob', readSeq: 0 },
        { userId: 'carol', readSeq: 0 },
        { userId: 'dave', readSeq: 0 },
      ],
    });
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.conversations,
      KeyConditionExpression: 'conversationId = :c AND begins_with(sk, :member)',
      ExpressionAttributeValues: { ':c': CONVERSATION, ':member': 'MEMBER#' },
      ConsistentRead: true,
    });
    // One BatchGetItem of the other members' connection slots, none for the caller: two requests in all.
    expect(ddbMock.commandCalls(BatchGetCommand)).toHaveLength(1);
    expect(ddbMock).toHaveReceivedCommandWith(BatchGetCommand, {
      RequestItems: {
        [tables.connections]: expect.objectContaining({
          Keys: [{ connectionId: 'USER#bob' }, { connectionId: 'USER#carol' }, { connectionId: 'USER#dave' }],
        }),
      },
    });
    expect(ddbMock.calls()).toHaveLength(2);
  });

  it("answers each member's read cursor from the same members Query, so receipts survive a reload", async () => {
    // Prepare
    givenMembers(['alice', 'bob', 'carol'], { alice: 7, bob: 5 });
    givenSlots({ bob: { 'bob-1': LATER } });

    // Act
    const reply = await call(fakePoster(), { action: 'presence', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({
      type: 'ack',
      online: ['alice', 'bob'],
      readSeqs: [
        { userId: 'alice', readSeq: 7 },
        { userId: 'bob', readSeq: 5 },
        { userId: 'carol', readSeq: 0 },
      ],
    });
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.conversations,
      ProjectionExpression: 'memberId, readSeq',
      ConsistentRead: true,
    });
    expect(ddbMock.commandCalls(QueryCommand, { TableName: tables.conversations })).toHaveLength(1);
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(0);
  });

  it('leaves the read cursors out above LIMITS.maxReadEventMembers members, as read pushes are', async () => {
    // Prepare: one member over the limit, and a group exactly at it.
    const members = (n: number) => ['alice', ...Array.from({ length: n - 1 }, (_, i) => `m${i}`)];
    givenMembers(members(LIMITS.maxReadEventMembers + 1), { alice: 3 });
    givenSlots({});

    // Act
    const large = await call(fakePoster(), { action: 'presence', conversationId: CONVERSATION });
    givenMembers(members(LIMITS.maxReadEventMembers), { alice: 3 });
    const small = await call(fakePoster(), { action: 'presence', conversationId: CONVERSATION });

    // Assess
    expect(large).toMatchObject({ type: 'ack', online: ['alice'] });
    expect(large).not.toHaveProperty('readSeqs');
    expect(small).toMatchObject({ type: 'ack', online: ['alice'] });
    expect(small.readSeqs).toHaveLength(LIMITS.maxReadEventMembers);
    expect((small.readSeqs as unknown[])[0]).toEqual({ userId: 'alice', readSeq: 3 });
  });

  it('refuses a non-member with forbidden and looks up no one', async () => {
    // Prepare
    givenMembers(['bob', 'carol']);
    givenSlots({ bob: { 'bob-1': LATER } });

    // Act
    const reply = await call(fakePoster(), { action: 'presence', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(ddbMock.commandCalls(BatchGetCommand)).toHaveLength(0);
  });
});

describe('online event on subscribe', () => {
  /** The META counter a subscribe reads after its transaction (which checks the membership). */
  function givenCounter(): void {
    ddbMock
      .on(GetCommand)
      .callsFake((input: GetCommandInput) =>
        input.Key?.sk === META_SK ? { Item: { conversationId: CONVERSATION, lastSeq: 0 } } : {},
      );
  }

  it("announces the user online to the conversation's listeners when theirs is the first connection there", async () => {
    // Prepare: the post records whether the subscription was stored before it.
    givenCounter();
    givenListeners([
      ['bob-1', 'bob'],
      ['carol-1', 'carol'],
    ]);
    ddbMock.on(TransactWriteCommand).resolves({});
    const post = vi.fn<PostFn>(async () => {
      expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
      return delivered;
    });

    // Act
    const reply = await call(post, { action: 'subscribe', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', action: 'subscribe' });
    const online = { type: 'presence', userId: 'alice', online: true };
    expect(postsOf(post)).toEqual([
      ['bob-1', online],
      ['carol-1', online],
    ]);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.subscriptions,
      ConsistentRead: true,
    });
  });

  it.each([
    ['another connection of the same user already listens', 'alice-2'],
    ['this connection already listens (a re-subscribe)', CONNECTION],
  ])('announces nothing when %s', async (_case, listening) => {
    // Prepare
    givenCounter();
    givenListeners([
      [listening, 'alice'],
      ['bob-1', 'bob'],
    ]);
    ddbMock.on(TransactWriteCommand).resolves({});
    const post = fakePoster();

    // Act
    const reply = await call(post, { action: 'subscribe', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', action: 'subscribe' });
    expect(post).not.toHaveBeenCalled();
  });

  it('announces nothing for a non-member, whose subscribe is refused', async () => {
    // Prepare: the subscription's transaction is refused by its membership check (its third item).
    givenListeners([['bob-1', 'bob']]);
    ddbMock.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'Transaction cancelled',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'None' }, { Code: 'ConditionalCheckFailed' }],
      }),
    );
    const post = fakePoster();

    // Act
    const reply = await call(post, { action: 'subscribe', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(post).not.toHaveBeenCalled();
  });
});

describe('online event on $connect', () => {
  const connect = lifecycleEvent('CONNECT', {
    connectionId: CONNECTION,
    authorizer: { principalId: 'alice', userId: 'alice' },
  });

  function connectHandler(post: PostFn) {
    const log = {
      appendKeys: vi.fn(),
      removeKeys: vi.fn(),
      info: vi.fn(),
      warn: vi.fn(),
      error: vi.fn(),
      debug: vi.fn(),
    };
    const now = () => NOW;
    return createConnectHandler({
      ddb,
      tables,
      logger: log,
      now,
      announceOnline: createOnlineAnnouncer({ ddb, tables, post, logger: log, now }),
    });
  }

  /** The conversations of each user, as the byMember index lists them. */
  function givenConversationsOf(byMember: Record<string, string[]>): void {
    ddbMock
      .on(QueryCommand, { TableName: tables.conversations, IndexName: 'byMember' })
      .callsFake((input) => ({
        Items: (byMember[String(input.ExpressionAttributeValues?.[':u'])] ?? []).map((conversationId) => ({
          conversationId,
        })),
      }));
  }

  it("posts online to the listeners of the user's conversations when it is their first connection, recording them for offline", async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});
    ddbMock.on(UpdateCommand, { TableName: tables.connections }).resolves({});
    givenIndexedConnections({ alice: [CONNECTION] });
    givenConversationsOf({ alice: ['general', 'random'] });
    givenListenersOf({
      general: [['bob-1', 'bob']],
      random: [
        ['bob-1', 'bob'],
        ['carol-1', 'carol'],
      ],
    });
    const post = fakePoster();

    // Act
    const result = await connectHandler(post)(connect);

    // Assess
    expect(result).toEqual({ statusCode: 200 });
    const online = { type: 'presence', userId: 'alice', online: true };
    expect(postsOf(post)).toEqual([
      ['bob-1', online],
      ['carol-1', online],
    ]);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'byMember',
      KeyConditionExpression: 'memberId = :u',
      Limit: LIMITS.onlineAnnouncedConversations,
    });
    // Recorded on the connection before the posts, so its user's last close announces offline there.
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.connections,
      Key: { connectionId: CONNECTION },
      ExpressionAttributeValues: { ':conversations': new Set(['general', 'random']) },
    });
  });

  it("leaves the user's rooms out: a viewer's arrival is not pushed to a room's audience", async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});
    ddbMock.on(UpdateCommand, { TableName: tables.connections }).resolves({});
    givenIndexedConnections({ alice: [CONNECTION] });
    givenConversationsOf({ alice: ['general', 'room_stage'] });
    givenListenersOf({ general: [['bob-1', 'bob']], room_stage: [['viewer-1', 'viewer']] });
    const post = fakePoster();

    // Act
    await connectHandler(post)(connect);

    // Assess
    expect(postsOf(post)).toEqual([['bob-1', { type: 'presence', userId: 'alice', online: true }]]);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.connections,
      ExpressionAttributeValues: { ':conversations': new Set(['general']) },
    });
  });

  it('posts nothing when the user already has another live connection', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});
    givenIndexedConnections({ alice: [CONNECTION, 'alice-2'] });
    ddbMock.on(GetCommand, { TableName: tables.connections }).resolves({ Item: { connectionId: 'alice-2' } });
    givenConversationsOf({ alice: ['general'] });
    const post = fakePoster();

    // Act
    await connectHandler(post)(connect);

    // Assess
    expect(post).not.toHaveBeenCalled();
    expect(ddbMock).not.toHaveReceivedCommandWith(QueryCommand, { IndexName: 'byMember' });
  });

  it('posts nothing when it could not record the audience (the connection already closed)', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});
    givenIndexedConnections({ alice: [CONNECTION] });
    givenConversationsOf({ alice: ['general'] });
    givenListenersOf({ general: [['bob-1', 'bob']] });
    // The audience goes on the connection item (the user's own item, where the connection slot is, is not it).
    ddbMock
      .on(UpdateCommand, { TableName: tables.connections, Key: { connectionId: CONNECTION } })
      .rejects(new ConditionalCheckFailedException({ message: 'gone', $metadata: {} }));
    const post = fakePoster();

    // Act
    const result = await connectHandler(post)(connect);

    // Assess
    expect(result).toEqual({ statusCode: 200 });
    expect(post).not.toHaveBeenCalled();
  });
});

describe('offline event on $disconnect', () => {
  const disconnect = lifecycleEvent('DISCONNECT', { connectionId: CONNECTION, authorizer: null });

  function connectHandler(post: PostFn, warn = vi.fn()) {
    const log = {
      appendKeys: vi.fn(),
      removeKeys: vi.fn(),
      info: vi.fn(),
      warn,
      error: vi.fn(),
      debug: vi.fn(),
    };
    const now = () => NOW;
    return createConnectHandler({
      ddb,
      tables,
      logger: log,
      now,
      announceOffline: createOfflineAnnouncer({ ddb, tables, post, logger: log, now }),
    });
  }

  /** The closed connection's item: alice's, subscribed to `conversations`, with `announced` handed over to it. */
  function givenClosedConnection(conversations: string[], announced: string[] = []): void {
    ddbMock.on(DeleteCommand).resolves({
      Attributes: {
        connectionId: CONNECTION,
        userId: 'alice',
        ...(conversations.length > 0 ? { conversations: new Set(conversations) } : {}),
        ...(announced.length > 0 ? { announcedTo: new Set(announced) } : {}),
      },
    });
    ddbMock.on(BatchWriteCommand).resolves({});
  }

  /** Connection items that still exist, as a consistent GetItem sees them. */
  function givenLiveConnections(live: Record<string, number>): void {
    ddbMock.on(GetCommand, { TableName: tables.connections }).callsFake((input: GetCommandInput) => {
      const connectionId = String(input.Key?.connectionId);
      return connectionId in live ? { Item: { connectionId, [TTL_ATTRIBUTE]: live[connectionId] } } : {};
    });
  }

  const LATER = Math.floor(NOW.getTime() / 1000) + 3600;

  it("posts offline once to each listener of the closed connection's conversations when it was the user's last", async () => {
    // Prepare: the index still lists the closed connection itself (it lags behind the table).
    givenClosedConnection(['general', 'random']);
    givenIndexedConnections({ alice: [CONNECTION] });
    givenListenersOf({
      general: [
        ['bob-1', 'bob'],
        ['carol-1', 'carol'],
      ],
      random: [['bob-1', 'bob']],
    });
    const post = fakePoster();

    // Act
    const result = await connectHandler(post)(disconnect);

    // Assess
    expect(result).toEqual({ statusCode: 200 });
    const offline = { type: 'presence', userId: 'alice', online: false };
    expect(postsOf(post)).toEqual([
      ['bob-1', offline],
      ['carol-1', offline],
    ]);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.connections,
      IndexName: 'byUser',
      KeyConditionExpression: 'userId = :u',
      ExpressionAttributeValues: { ':u': 'alice' },
    });
  });

  it("leaves the closed connection's rooms out: a viewer's leaving is not pushed to a room's audience", async () => {
    // Prepare
    givenClosedConnection(['general', 'room_stage']);
    givenIndexedConnections({ alice: [CONNECTION] });
    givenListenersOf({ general: [['bob-1', 'bob']], room_stage: [['viewer-1', 'viewer']] });
    const post = fakePoster();

    // Act
    await connectHandler(post)(disconnect);

    // Assess
    expect(postsOf(post)).toEqual([['bob-1', { type: 'presence', userId: 'alice', online: false }]]);
  });

  it('posts nothing while the user has another live connection', async () => {
    // Prepare
    givenClosedConnection(['general']);
    givenIndexedConnections({ alice: [CONNECTION, 'alice-2'] });
    givenLiveConnections({ 'alice-2': LATER });
    givenListenersOf({ general: [['bob-1', 'bob']] });
    const post = fakePoster();

    // Act
    await connectHandler(post)(disconnect);

    // Assess
    expect(post).not.toHaveBeenCalled();
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      TableName: tables.connections,
      Key: { connectionId: 'alice-2' },
      ConsistentRead: true,
    });
  });

  it.each([
    ['deleted a moment ago (two tabs closing at once)', {}],
    ['past its TTL but not yet removed', { 'alice-2': Math.floor(NOW.getTime() / 1000) - 1 }],
  ])('posts offline when the other connection the index lists was %s', async (_case, live) => {
    // Prepare
    givenClosedConnection(['general']);
    givenIndexedConnections({ alice: [CONNECTION, 'alice-2'] });
    givenLiveConnections(live);
    givenListenersOf({ general: [['bob-1', 'bob']] });
    const post = fakePoster();

    // Act
    await connectHandler(post)(disconnect);

    // Assess
    expect(postsOf(post)).toEqual([['bob-1', { type: 'presence', userId: 'alice', online: false }]]);
  });

  it("hands its conversations over to the user's other connection, which will announce them offline", async () => {
    // Prepare
    givenClosedConnection(['general'], ['random']);
    givenIndexedConnections({ alice: [CONNECTION, 'alice-2'] });
    givenLiveConnections({ 'alice-2': LATER });
    ddbMock.on(UpdateCommand, { TableName: tables.connections }).resolves({});
    const post = fakePoster();

    // Act
    await connectHandler(post)(disconnect);

    // Assess
    expect(post).not.toHaveBeenCalled();
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.connections,
      Key: { connectionId: 'alice-2' },
      UpdateExpression: 'ADD #announced :conversations',
      ConditionExpression: 'attribute_exists(connectionId)',
      ExpressionAttributeNames: { '#announced': 'announcedTo' },
      ExpressionAttributeValues: { ':conversations': new Set(['general', 'random']) },
    });
  });

  it('posts offline to the listeners of the conversations handed over to it when it is the last', async () => {
    // Prepare: an earlier tab listened to "random" and handed it over before it closed.
    givenClosedConnection(['general'], ['random']);
    givenIndexedConnections({ alice: [CONNECTION] });
    givenListenersOf({ general: [['bob-1', 'bob']], random: [['dan-1', 'dan']] });
    const post = fakePoster();

    // Act
    await connectHandler(post)(disconnect);

    // Assess
    const offline = { type: 'presence', userId: 'alice', online: false };
    expect(postsOf(post)).toEqual([
      ['bob-1', offline],
      ['dan-1', offline],
    ]);
  });

  it('posts offline itself when the other connection closed before the handover reached it', async () => {
    // Prepare
    givenClosedConnection(['general']);
    givenIndexedConnections({ alice: [CONNECTION, 'alice-2'] });
    givenLiveConnections({ 'alice-2': LATER });
    ddbMock
      .on(UpdateCommand, { TableName: tables.connections })
      .rejects(new ConditionalCheckFailedException({ message: 'gone', $metadata: {} }));
    givenListenersOf({ general: [['bob-1', 'bob']] });
    const post = fakePoster();

    // Act
    await connectHandler(post)(disconnect);

    // Assess
    expect(postsOf(post)).toEqual([['bob-1', { type: 'presence', userId: 'alice', online: false }]]);
  });

  it('reads nothing more when the closed connection listened to no conversation', async () => {
    // Prepare
    givenClosedConnection([]);
    const post = fakePoster();

    // Act
    await connectHandler(post)(disconnect);

    // Assess
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
    expect(post).not.toHaveBeenCalled();
  });

  it('still succeeds, with a warning, when the announcement fails', async () => {
    // Prepare
    givenClosedConnection(['general']);
    ddbMock.on(QueryCommand).rejects(new Error('ProvisionedThroughputExceededException'));
    const warn = vi.fn();

    // Act
    const result = await connectHandler(fakePoster(), warn)(disconnect);

    // Assess
    expect(result).toEqual({ statusCode: 200 });
    expect(warn).toHaveBeenCalledWith('Could not announce the user offline', expect.anything());
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteCommand, 1);
  });
});

describe('postEphemeral', () => {
  it('keeps at most `concurrency` posts in flight and posts to each connection once', async () => {
    // Prepare
    let inFlight = 0;
    let most = 0;
    const post = vi.fn<PostFn>(async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return delivered;
    });
    const ids = Array.from({ length: 25 }, (_, i) => `c-${i}`);

    // Act
    const report = await postEphemeral(post, [...ids, 'c-0'], '{}', { concurrency: 4 });

    // Assess
    expect(most).toBe(4);
    expect(post).toHaveBeenCalledTimes(25);
    expect(report).toEqual({ targets: 25, delivered: 25, gone: 0, failed: 0, skipped: 0 });
  });

  it('starts no post once the budget has run out and counts the rest as skipped', async () => {
    // Prepare: each post takes 400 ms of a 1 s budget.
    let clock = 0;
    const post = vi.fn<PostFn>(async () => {
      clock += 400;
      return delivered;
    });

    // Act
    const report = await postEphemeral(post, ['a', 'b', 'c', 'd', 'e'], '{}', {
      concurrency: 1,
      budgetMs: 1_000,
      now: () => clock,
    });

    // Assess
    expect(post).toHaveBeenCalledTimes(3);
    expect(report).toMatchObject({ targets: 5, delivered: 3, skipped: 2 });
  });
});
