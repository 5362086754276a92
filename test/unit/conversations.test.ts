import { Logger } from '@aws-lambda-powertools/logger';
import {
  type CancellationReason,
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { directConversationId } from '../../lambdas/conversations/direct';
import { createConversationsHandler } from '../../lambdas/conversations/routes';
import { THROTTLED_RETRY_MS } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { META_SK, memberSk } from '../../shared/tables';
import { routeEvent } from '../support/api-gateway';
import { deferred } from '../support/deferred';
import { fakeMessagesTable } from './fakes/messages-table';

const tables = {
  conversations: 'conversations-t',
  subscriptions: 'subscriptions-t',
  connections: 'connections-t',
  messages: 'messages-t',
};
const NOW = new Date('2030-01-02T03:04:05.000Z');
/** Just past the writer lease: the writer of a seq reserved before this is dead. */
const OLD = new Date(NOW.getTime() - LIMITS.writerLeaseMs - 1).toISOString();
const CONVERSATION = 'conv-1';
const CONNECTION = 'conn-1';

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

/** The conversations function's sink: what its routes and readers count. */
const metrics = { record: vi.fn() };

const handler = createConversationsHandler({
  ddb,
  tables,
  logger: new Logger({ serviceName: 'chat-conversations', logLevel: 'SILENT' }),
  disconnect: vi.fn(async () => {}),
  metrics,
  clock: () => NOW,
  newId: () => 'conv-new',
  sleep: async () => {},
});

async function call(body: unknown): Promise<Record<string, unknown>> {
  const result = await handler(routeEvent({ body, connectionId: CONNECTION, at: NOW }));
  expect(result.statusCode).toBe(200);
  return JSON.parse(result.body) as Record<string, unknown>;
}

/**
 * Answers GetCommand and BatchGetCommand like the conversations table: `members` are members (the first
 * one created the conversation and is its admin), META holds the counter (`lastSeq`, and
 * `lastReservedAt` once a send reserved a seq).
 */
function givenConversation(members: string[], lastSeq = 0, lastReservedAt?: string): void {
  ddbMock.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
    const asked = (input.RequestItems?.[tables.conversations]?.Keys ?? []).map((key) => key.sk);
    if (asked.includes('PROFILE')) return profilesLettingAnyoneAdd(input);
    const items = [
      { conversationId: CONVERSATION, sk: META_SK, lastSeq, createdBy: members[0] },
      ...members.map((userId, i) => ({
        conversationId: CONVERSATION,
        sk: memberSk(userId),
        memberId: userId,
        role: i === 0 ? 'admin' : 'member',
      })),
    ];
    return { Responses: { [tables.conversations]: items.filter((item) => asked.includes(item.sk)) } };
  });
  ddbMock.on(GetCommand).callsFake((input: GetCommandInput) => {
    const sk = input.Key?.sk;
    if (sk === META_SK) {
      return {
        Item: { conversationId: CONVERSATION, sk, lastSeq, ...(lastReservedAt ? { lastReservedAt } : {}) },
      };
    }
    const isMember = members.some((userId) => memberSk(userId) === sk);
    return isMember ? { Item: { conversationId: CONVERSATION } } : {};
  });
}

const stored = (seq: number) => ({
  conversationId: CONVERSATION,
  seq,
  senderId: 'bob',
  body: `message ${seq}`,
  sentAt: NOW.toISOString(),
});

const tombstone = (seq: number) => ({ conversationId: CONVERSATION, seq, tombstone: true });

const seqsOf = (reply: Record<string, unknown>): number[] =>
  (reply.messages as { seq: number }[]).map((entry) => entry.seq);

/** The messages table holding messages `seqs`, all sent more than a writer lease ago. */
function givenStoredMessages(seqs: number[]): void {
  fakeMessagesTable(
    ddbMock,
    CONVERSATION,
    seqs.map((seq) => ({ ...stored(seq), sentAt: OLD })),
  );
}

/** A cancelled transaction, with one reason per item in order. */
const cancelled = (...CancellationReasons: CancellationReason[]) =>
  new TransactionCanceledException({ message: 'Transaction cancelled', $metadata: {}, CancellationReasons });

/**
 * The transaction item that takes `userId`'s conversation slot, refused when they are full, block `by`,
 * or (`checksSetting`) no longer let anyone add them, as they chose and as read before the transaction; `by` itself
 * only checks the cap and, harmlessly, its own block list.
 */
const slotTake = (userId: string, by = 'alice', checksSetting = userId !== by) => ({
  Update: {
    TableName: tables.conversations,
    Key: { conversationId: `USER#${userId}`, sk: 'PROFILE' },
    UpdateExpression: 'ADD conversationCount :one',
    ConditionExpression: `(attribute_not_exists(conversationCount) OR conversationCount < :cap) AND NOT contains(blocked, :by)${
      checksSetting ? ' AND whoCanAdd = :seen' : ''
    }`,
    ExpressionAttributeValues: {
      ':one': 1,
      ':cap': LIMITS.maxConversationsPerUser,
      ':by': by,
      ...(checksSetting ? { ':seen': 'anyone' } : {}),
    },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  },
});

/**
 * The profiles a BatchGetItem asks for, each of a user who lets anyone add them: these tests are about
 * writing members, not consent (by default, LIMITS.defaultWhoCanAdd, strangers are invited instead).
 */
const profilesLettingAnyoneAdd = (input: BatchGetCommandInput) => ({
  Responses: {
    [tables.conversations]: (input.RequestItems?.[tables.conversations]?.Keys ?? [])
      .filter((key) => key.sk === 'PROFILE')
      .map((key) => ({ ...key, whoCanAdd: 'anyone' })),
  },
});

/** `count` distinct user ids that are not alice. */
const users = (count: number) => Array.from({ length: count }, (_, i) => `user-${i}`);

/** The items of each TransactWriteItems call, in call order. */
const transactItems = (): NonNullable<TransactWriteCommandInput['TransactItems']>[] =>
  ddbMock.commandCalls(TransactWriteCommand).map((call) => call.args[0].input.TransactItems ?? []);

function expectNothingWritten(): void {
  expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
  expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
}

beforeEach(() => {
  ddbMock.reset();
  metrics.record.mockClear();
  ddbMock.on(BatchGetCommand).callsFake(profilesLettingAnyoneAdd);
});

describe('subscribe (G5 gapless resume)', () => {
  beforeEach(() => {
    // Where the subscription goes: the base partition of a small conversation (no shards marker).
    ddbMock.on(QueryCommand, { TableName: tables.subscriptions }).resolves({ Items: [] });
  });

  it('stores the subscription before it reads the counter, and reads the counter before the backlog', async () => {
    // Prepare: each write and read completes a tick later, so anything started meanwhile is recorded.
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    const events: string[] = [];
    // The one GetItem is the counter's: the membership check is a condition of the transaction.
    ddbMock.on(GetCommand).callsFake(async () => {
      events.push('counter:start');
      await tick();
      events.push('counter:done');
      return { Item: { conversationId: CONVERSATION, lastSeq: 6 } };
    });
    ddbMock.on(TransactWriteCommand).callsFake(async () => {
      events.push('subscribe:start');
      await tick();
      events.push('subscribe:done');
      return {};
    });
    ddbMock.on(QueryCommand).callsFake(async (input: QueryCommandInput) => {
      // The look-up of where the subscription goes comes with the subscribe; only the backlog is a read.
      if (input.TableName === tables.subscriptions) return { Items: [] };
      events.push('backlog:start');
      return { Items: [stored(4), stored(5), stored(6)] };
    });

    // Act
    const reply = await call({ action: 'subscribe', conversationId: CONVERSATION, afterSeq: 3 });

    // Assess
    expect(reply.type).toBe('ack');
    expect(events).toEqual([
      'subscribe:start',
      'subscribe:done',
      'counter:start',
      'counter:done',
      'backlog:start',
    ]);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
    expect(ddbMock).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [
        {
          Update: expect.objectContaining({
            TableName: tables.connections,
            Key: { connectionId: CONNECTION },
            UpdateExpression: 'ADD conversations :conversation',
          }),
        },
        {
          Put: {
            TableName: tables.subscriptions,
            Item: expect.objectContaining({
              conversationId: CONVERSATION,
              connectionId: CONNECTION,
              userId: 'alice',
            }),
          },
        },
        {
          ConditionCheck: {
            TableName: tables.conversations,
            Key: { conversationId: CONVERSATION, sk: memberSk('alice') },
            ConditionExpression: 'attribute_exists(conversationId)',
          },
        },
      ],
    });
  });

  it('costs three requests: where the subscription goes, the transaction that stores it if the caller is a member, the counter', async () => {
    // Prepare
    givenConversation(['alice'], 6);
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const reply = await call({ action: 'subscribe', conversationId: CONVERSATION });

    // Assess: before the membership check joined the transaction, a consistent GetItem of the member
    // item came before it and another after it (five requests).
    expect(reply).toMatchObject({ type: 'ack', lastSeq: 6 });
    expect(ddbMock.calls().map((request) => request.args[0].constructor.name)).toEqual([
      'QueryCommand',
      'TransactWriteCommand',
      'GetCommand',
    ]);
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      Key: { conversationId: CONVERSATION, sk: META_SK },
    });
  });

  it('returns the backlog after afterSeq in ascending order, read consistently', async () => {
    // Prepare
    givenConversation(['alice'], 6);
    ddbMock.on(TransactWriteCommand).resolves({});
    ddbMock.on(QueryCommand).resolves({ Items: [stored(4), stored(5), stored(6)] });

    // Act
    const reply = await call({
      action: 'subscribe',
      requestId: 'r-1',
      conversationId: CONVERSATION,
      afterSeq: 3,
    });

    // Assess
    expect(reply).toMatchObject({
      type: 'ack',
      action: 'subscribe',
      requestId: 'r-1',
      conversationId: CONVERSATION,
      hasMore: false,
      lastSeq: 6,
    });
    expect((reply.messages as { seq: number }[]).map((m) => m.seq)).toEqual([4, 5, 6]);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.messages,
      KeyConditionExpression: expect.stringContaining('seq > :after'),
      ExpressionAttributeValues: { ':c': CONVERSATION, ':after': 3 },
      ConsistentRead: true,
    });
    const query = ddbMock.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(query?.ScanIndexForward).not.toBe(false);
  });

  it('tells the client to subscribe again when the backlog has more pages', async () => {
    // Prepare: the query asks for one more than a page, and gets it.
    givenConversation(['alice'], 500);
    ddbMock.on(TransactWriteCommand).resolves({});
    ddbMock.on(QueryCommand).resolves({
      Items: Array.from({ length: LIMITS.defaultPageSize + 1 }, (_, i) => stored(i + 1)),
    });

    // Act
    const reply = await call({ action: 'subscribe', conversationId: CONVERSATION, afterSeq: 0 });

    // Assess
    expect(reply).toMatchObject({ hasMore: true, lastSeq: 500 });
    expect(reply.messages).toHaveLength(LIMITS.defaultPageSize);
  });

  it('returns no backlog but the current lastSeq when afterSeq is omitted', async () => {
    // Prepare
    givenConversation(['alice'], 42);
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const reply = await call({ action: 'subscribe', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', messages: [], hasMore: false, lastSeq: 42 });
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(ddbMock).not.toHaveReceivedCommandWith(QueryCommand, { TableName: tables.messages });
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      Key: { conversationId: CONVERSATION, sk: META_SK },
      ConsistentRead: true,
    });
  });

  it("fills the backlog's holes of dead writers, the counter's last reservation witnessing those above the newest message", async () => {
    // Prepare: seq 5 and 6 were reserved more than a writer lease ago and never stored.
    givenConversation(['alice'], 6, OLD);
    ddbMock.on(TransactWriteCommand).resolves({});
    givenStoredMessages([1, 2, 3, 4]);

    // Act
    const reply = await call({ action: 'subscribe', conversationId: CONVERSATION, afterSeq: 3 });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', hasMore: false, lastSeq: 6 });
    expect(reply.messages).toEqual([expect.objectContaining({ seq: 4 }), tombstone(5), tombstone(6)]);
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: { conversationId: CONVERSATION, seq: 6, tombstone: true, sentAt: NOW.toISOString() },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
    expect(metrics.record.mock.calls).toEqual([['tombstonesFilled'], ['tombstonesFilled']]);
  });

  it('answers with the newest backlog seq as lastSeq when messages were sent after the counter was read', async () => {
    // Prepare: the counter said 5; messages 6 and 7 were committed before the backlog was read.
    givenConversation(['alice'], 5);
    ddbMock.on(TransactWriteCommand).resolves({});
    givenStoredMessages([4, 5, 6, 7]);

    // Act
    const reply = await call({ action: 'subscribe', conversationId: CONVERSATION, afterSeq: 3 });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', hasMore: false, lastSeq: 7 });
    expect(seqsOf(reply)).toEqual([4, 5, 6, 7]);
  });

  it.each([
    [
      'connection_gone, retryable, when the connection has already closed',
      undefined,
      'connection_gone',
      true,
    ],
    [
      'limit_exceeded when the connection listens to the most conversations already',
      { connectionId: { S: CONNECTION } },
      'limit_exceeded',
      false,
    ],
  ])('answers %s, and reads no backlog', async (_case, oldConnection, code, retryable) => {
    // Prepare
    givenConversation(['alice'], 6);
    ddbMock
      .on(TransactWriteCommand)
      .rejects(
        cancelled(
          oldConnection === undefined
            ? { Code: 'ConditionalCheckFailed' }
            : { Code: 'ConditionalCheckFailed', Item: oldConnection },
          { Code: 'None' },
        ),
      );

    // Act
    const reply = await call({
      action: 'subscribe',
      requestId: 'r-8',
      conversationId: CONVERSATION,
      afterSeq: 0,
    });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code, requestId: 'r-8', retryable });
    expect(ddbMock).not.toHaveReceivedCommandWith(QueryCommand, { TableName: tables.messages });
  });
});

describe('bad input changes nothing (G8)', () => {
  it.each([
    ['history', { action: 'history', requestId: 'r-9', conversationId: CONVERSATION }],
    [
      'addMembers',
      { action: 'addMembers', requestId: 'r-9', conversationId: CONVERSATION, members: ['mallory'] },
    ],
  ])('refuses %s from a non-member with forbidden and writes nothing', async (_action, frame) => {
    // Prepare
    givenConversation(['bob']);
    ddbMock.on(PutCommand).resolves({});
    ddbMock.on(QueryCommand).resolves({ Items: [stored(1)] });

    // Act
    const reply = await call(frame);

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', requestId: 'r-9', retryable: false });
    expectNothingWritten();
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
  });

  it('refuses subscribe from a non-member with forbidden: its one write, conditioned on the member item, is refused', async () => {
    // Prepare: DynamoDB cancels the transaction on its third item, the membership check.
    givenConversation(['bob']);
    ddbMock.on(QueryCommand).resolves({ Items: [stored(1)] });
    ddbMock
      .on(TransactWriteCommand)
      .rejects(cancelled({ Code: 'None' }, { Code: 'None' }, { Code: 'ConditionalCheckFailed' }));
    const frame = { action: 'subscribe', requestId: 'r-9', conversationId: CONVERSATION, afterSeq: 0 };

    // Act
    const reply = await call(frame);

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', requestId: 'r-9', retryable: false });
    const items = ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems;
    expect(items?.[2]?.ConditionCheck?.Key).toEqual({ conversationId: CONVERSATION, sk: memberSk('alice') });
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
    expect(ddbMock).not.toHaveReceivedCommandWith(QueryCommand, { TableName: tables.messages });
  });

  it('answers malformed JSON with invalid_json and sends no command', async () => {
    // Act
    const reply = await call('{"action":"subscribe",');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_json' });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('answers an unknown action on $default with unknown_action and echoes the requestId', async () => {
    // Act
    const reply = await call({ action: 'deleteEverything', requestId: 'r-2', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'unknown_action', requestId: 'r-2' });
    expect(reply.message).toContain('deleteEverything');
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it.each([
    ['a wrong-typed conversationId', { action: 'subscribe', conversationId: 7 }],
    ['a missing conversationId', { action: 'unsubscribe' }],
    ['an extra field', { action: 'subscribe', conversationId: CONVERSATION, asUser: 'bob' }],
    ['a negative afterSeq', { action: 'subscribe', conversationId: CONVERSATION, afterSeq: -1 }],
    ['a fractional beforeSeq', { action: 'history', conversationId: CONVERSATION, beforeSeq: 1.5 }],
    ['a zero limit', { action: 'history', conversationId: CONVERSATION, limit: 0 }],
    ['members that are not an array', { action: 'createConversation', members: 'bob' }],
    ['a repeated member', { action: 'addMembers', conversationId: CONVERSATION, members: ['bob', 'bob'] }],
  ])('answers %s with invalid_request and sends no command', async (_case, frame) => {
    // Act
    const reply = await call({ ...frame, requestId: 'r-3' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request', requestId: 'r-3' });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('refuses a group one member over the limit, the caller included, with limit_exceeded and writes nothing', async () => {
    // Prepare: one member more than LIMITS.maxGroupSize, the caller included.
    const members = users(LIMITS.maxGroupSize);

    // Act
    const reply = await call({ action: 'createConversation', requestId: 'r-4', members });

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'limit_exceeded',
      requestId: 'r-4',
      retryable: false,
    });
    expect(reply.message).toContain(String(LIMITS.maxGroupSize));
    expectNothingWritten();
  });

  it('refuses a frame without an authenticated user and writes nothing', async () => {
    // Act
    const reply = await handler(
      routeEvent({
        body: { action: 'unsubscribe', conversationId: CONVERSATION },
        authorizer: null,
        at: NOW,
      }),
    );

    // Assess
    expect(JSON.parse(reply.body)).toMatchObject({ type: 'error', code: 'unauthorized' });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('refuses a frame over the size limit before parsing it', async () => {
    // Act
    const reply = await call({ action: 'createConversation', title: 'x'.repeat(LIMITS.maxFrameBytes) });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'payload_too_large' });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

/** A group's roster (its member ids, which name it in its members' lists) as a write puts or changes it. */
const rosterPut = (members: string[], conversationId = 'conv-new') => ({
  Put: {
    TableName: tables.conversations,
    Item: { conversationId, sk: 'ROSTER', userIds: new Set(members) },
  },
});
const rosterChange = (change: 'ADD' | 'DELETE', userIds: string[], conversationId = CONVERSATION) => ({
  Update: {
    TableName: tables.conversations,
    Key: { conversationId, sk: 'ROSTER' },
    UpdateExpression: `${change} userIds :ids`,
    ExpressionAttributeValues: { ':ids': new Set(userIds) },
  },
});

describe('createConversation', () => {
  const memberPut = (userId: string) => ({
    Put: {
      TableName: tables.conversations,
      Item: {
        conversationId: 'conv-new',
        sk: memberSk(userId),
        memberId: userId,
        joinedAt: NOW.toISOString(),
        addedBy: 'alice',
        role: userId === 'alice' ? 'admin' : 'member',
        counted: true,
      },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    },
  });

  /** A member's item and their conversation slot, as a creation writes them. */
  const memberWrites = (userId: string) => [memberPut(userId), slotTake(userId)];

  it('writes every member, the caller included, and META last with lastSeq 0, in one transaction of conditional puts', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const reply = await call({
      action: 'createConversation',
      requestId: 'r-5',
      members: ['bob', 'carol'],
      title: 'Trip',
    });

    // Assess
    const createdAt = NOW.toISOString();
    expect(reply).toEqual({
      type: 'ack',
      action: 'createConversation',
      requestId: 'r-5',
      conversation: {
        conversationId: 'conv-new',
        title: 'Trip',
        members: ['alice', 'bob', 'carol'],
        createdBy: 'alice',
        createdAt,
        lastSeq: 0,
      },
    });
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
    expect(ddbMock).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [
        ...memberWrites('alice'),
        ...memberWrites('bob'),
        ...memberWrites('carol'),
        {
          Put: {
            TableName: tables.conversations,
            Item: {
              conversationId: 'conv-new',
              sk: META_SK,
              title: 'Trip',
              createdBy: 'alice',
              createdAt,
              lastSeq: 0,
              memberCount: 3,
            },
            ConditionExpression: 'attribute_not_exists(conversationId)',
          },
        },
        rosterPut(['alice', 'bob', 'carol']),
      ],
    });
  });

  it('does not add the caller twice when they list themselves', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const reply = await call({ action: 'createConversation', members: ['bob', 'alice'] });

    // Assess
    expect(reply.conversation).toMatchObject({ members: ['alice', 'bob'] });
    const [items = []] = transactItems();
    expect(items.filter((item) => item.Put).map((item) => item.Put?.Item?.sk)).toEqual([
      memberSk('alice'),
      memberSk('bob'),
      META_SK,
      'ROSTER',
    ]);
    expect(items.at(-2)?.Put?.Item).toMatchObject({ memberCount: 2 });
    expect(items.at(-1)).toEqual(rosterPut(['alice', 'bob']));
  });

  it('creates a group of up to 49 members in one transaction, each member with their slot, META last', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const members = users(48);

    // Act
    const reply = await call({ action: 'createConversation', members });

    // Assess
    expect(reply.type).toBe('ack');
    const calls = transactItems();
    expect(calls).toHaveLength(1);
    const [items = []] = calls;
    expect(items).toHaveLength(100);
    expect(items.slice(0, -2)).toEqual(['alice', ...members].flatMap(memberWrites));
    expect(items.at(-2)?.Put?.Item).toMatchObject({ sk: META_SK, memberCount: 49 });
    expect(items.at(-1)).toEqual(rosterPut(['alice', ...members]));
  });

  it('refuses with forbidden, in words that do not tell of a block, when a member blocks the caller, and writes nothing', async () => {
    // Prepare: bob's slot condition fails and hands back his profile as DynamoDB stores it.
    ddbMock.on(TransactWriteCommand).rejects(
      cancelled({ Code: 'None' }, { Code: 'None' }, { Code: 'None' }, {
        Code: 'ConditionalCheckFailed',
        Item: { blocked: { SS: ['alice'] } },
      } as CancellationReason),
    );

    // Act
    const reply = await call({ action: 'createConversation', members: ['bob', 'carol'] });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
    expect(String(reply.message)).not.toMatch(/block/i);
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it('refuses with limit_exceeded naming the member whose conversation cap is full, and writes nothing', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(
      cancelled({ Code: 'None' }, { Code: 'None' }, { Code: 'None' }, {
        Code: 'ConditionalCheckFailed',
        Item: {
          conversationCount: { N: String(LIMITS.maxConversationsPerUser) },
          whoCanAdd: { S: 'anyone' },
        },
      } as CancellationReason),
    );

    // Act
    const reply = await call({ action: 'createConversation', members: ['bob'] });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'limit_exceeded', retryable: false });
    expect(String(reply.message)).toContain(`bob is in ${LIMITS.maxConversationsPerUser} conversations`);
  });

  it('undoes the members a large group wrote when a later transaction is refused, and writes no META', async () => {
    // Prepare: the second run of members meets user-60's full cap (item 2 × 11 + 1 of that run).
    const members = users(LIMITS.maxGroupSize - 1);
    ddbMock
      .on(TransactWriteCommand)
      .resolvesOnce({})
      .rejectsOnce(
        cancelled(...Array.from({ length: 23 }, () => ({ Code: 'None' })), {
          Code: 'ConditionalCheckFailed',
          Item: {
            conversationCount: { N: String(LIMITS.maxConversationsPerUser) },
            whoCanAdd: { S: 'anyone' },
          },
        } as CancellationReason),
      )
      .resolves({});

    // Act
    const reply = await call({ action: 'createConversation', members });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'limit_exceeded' });
    expect(String(reply.message)).toContain(`user-59 is in`);
    const [first = [], , undo = [], ...rest] = transactItems();
    expect(rest).toEqual([]);
    const undone = ['alice', ...members].slice(0, 49);
    expect(undo).toHaveLength(first.length);
    expect(undo.filter((item) => item.Delete).map((item) => item.Delete?.Key?.sk)).toEqual(
      undone.map(memberSk),
    );
    expect(undo.filter((item) => item.Update).map((item) => item.Update?.ExpressionAttributeValues)).toEqual(
      undone.map(() => ({ ':minusOne': -1 })),
    );
    expect(
      transactItems()
        .flat()
        .some((item) => item.Put?.Item?.sk === META_SK),
    ).toBe(false);
  });

  it('creates the largest group, the caller and 99 others, with every member written before META', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const members = users(LIMITS.maxGroupSize - 1);

    // Act
    const reply = await call({ action: 'createConversation', members });

    // Assess
    expect(reply.type).toBe('ack');
    expect(reply.conversation).toMatchObject({ members: ['alice', ...members] });
    const [first = [], second = [], last = [], ...rest] = transactItems();
    expect(rest).toEqual([]);
    expect([...first, ...second, ...last.slice(0, -2)]).toEqual(['alice', ...members].flatMap(memberWrites));
    expect(first.length).toBeLessThanOrEqual(100);
    expect(second.length).toBeLessThanOrEqual(100);
    expect(last.slice(-2)).toEqual([
      {
        Put: expect.objectContaining({
          Item: expect.objectContaining({ sk: META_SK, lastSeq: 0, memberCount: LIMITS.maxGroupSize }),
          ConditionExpression: 'attribute_not_exists(conversationId)',
        }),
      },
      rosterPut(['alice', ...members]),
    ]);
  });

  it('writes no META when writing the members of a large group fails', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(cancelled({ Code: 'ConditionalCheckFailed' }));

    // Act
    const reply = await call({ action: 'createConversation', members: users(LIMITS.maxGroupSize - 1) });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'internal_error' });
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(transactItems()[0]?.some((item) => item.Put?.Item?.sk === META_SK)).toBe(false);
  });
});

describe('addMembers', () => {
  /**
   * Answers the BatchGetItems: the caller's membership read (META, created by alice, and the caller's
   * item with `callerRole`), then the members read, one list of current members per call, the last one
   * repeating.
   */
  function givenMembersRead(...answers: string[][]): void {
    let call = 0;
    ddbMock.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
      const asked = (input.RequestItems?.[tables.conversations]?.Keys ?? []).map((key) => key.sk);
      if (asked.includes('PROFILE')) return profilesLettingAnyoneAdd(input);
      if (asked.includes(META_SK)) {
        const meta = { conversationId: CONVERSATION, sk: META_SK, createdBy: 'alice' };
        const caller = {
          conversationId: CONVERSATION,
          sk: memberSk('alice'),
          memberId: 'alice',
          role: callerRole,
        };
        return { Responses: { [tables.conversations]: [meta, caller] } };
      }
      const members = answers[Math.min(call++, answers.length - 1)] ?? [];
      const found = members.filter((userId) => asked.includes(memberSk(userId)));
      return { Responses: { [tables.conversations]: found.map((memberId) => ({ memberId })) } };
    });
  }

  let callerRole = 'admin';
  beforeEach(() => {
    callerRole = 'admin';
  });

  const memberPut = (userId: string) => ({
    Put: {
      TableName: tables.conversations,
      Item: {
        conversationId: CONVERSATION,
        sk: memberSk(userId),
        memberId: userId,
        joinedAt: NOW.toISOString(),
        addedBy: 'alice',
        role: 'member',
        counted: true,
      },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    },
  });

  /** A member's item and their conversation slot, as an admin's add writes them. */
  const memberWrites = (userId: string) => [memberPut(userId), slotTake(userId)];

  const countUpdate = (added: number, room = added) => ({
    Update: {
      TableName: tables.conversations,
      Key: { conversationId: CONVERSATION, sk: META_SK },
      UpdateExpression: 'ADD memberCount :added',
      ConditionExpression:
        'attribute_exists(conversationId) AND attribute_not_exists(direct) AND memberCount <= :room',
      ExpressionAttributeValues: { ':added': added, ':room': LIMITS.maxGroupSize - room },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    },
  });

  it('adds only the users who are not members yet, with the member count, in one transaction', async () => {
    // Prepare
    givenConversation(['alice', 'bob']);
    givenMembersRead(['alice', 'bob']);
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const reply = await call({
      action: 'addMembers',
      conversationId: CONVERSATION,
      members: ['bob', 'carol', 'dave'],
    });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', conversationId: CONVERSATION, added: ['carol', 'dave'] });
    expect(ddbMock).toHaveReceivedCommandWith(BatchGetCommand, {
      RequestItems: {
        [tables.conversations]: expect.objectContaining({
          Keys: ['bob', 'carol', 'dave'].map((userId) => ({
            conversationId: CONVERSATION,
            sk: memberSk(userId),
          })),
          ConsistentRead: true,
        }),
      },
    });
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [
        countUpdate(2),
        ...memberWrites('carol'),
        ...memberWrites('dave'),
        rosterChange('ADD', ['carol', 'dave']),
      ],
    });
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it('writes nothing and adds no one when every requested user is a member already', async () => {
    // Prepare
    givenConversation(['alice', 'bob']);
    givenMembersRead(['alice', 'bob']);

    // Act
    const reply = await call({ action: 'addMembers', conversationId: CONVERSATION, members: ['bob'] });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', added: [] });
    expectNothingWritten();
  });

  it('refuses with limit_exceeded when the group would grow past the limit, and adds no one', async () => {
    // Prepare: the META condition fails and hands back the count as DynamoDB stores it.
    givenConversation(['alice']);
    givenMembersRead(['alice']);
    ddbMock
      .on(TransactWriteCommand)
      .rejects(
        cancelled(
          { Code: 'ConditionalCheckFailed', Item: { memberCount: { N: String(LIMITS.maxGroupSize - 1) } } },
          { Code: 'None' },
          { Code: 'None' },
        ),
      );

    // Act
    const reply = await call({
      action: 'addMembers',
      conversationId: CONVERSATION,
      members: ['carol', 'dave'],
    });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'limit_exceeded', retryable: false });
    expect(reply.message).toContain(`this would make ${LIMITS.maxGroupSize + 1}`);
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it('refuses with forbidden when the conversation has no META, and adds no one', async () => {
    // Prepare: alice's member item exists, but the conversation's META does not (yet).
    givenConversation(['alice']);
    givenMembersRead(['alice']);
    ddbMock.on(TransactWriteCommand).rejects(cancelled({ Code: 'ConditionalCheckFailed' }, { Code: 'None' }));

    // Act
    const reply = await call({
      action: 'addMembers',
      requestId: 'r-10',
      conversationId: CONVERSATION,
      members: ['carol'],
    });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', requestId: 'r-10', retryable: false });
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it('reads the members again and retries when one of them was added concurrently', async () => {
    // Prepare: carol joins between the read and the transaction, so her Put's condition fails.
    givenConversation(['alice']);
    givenMembersRead(['alice'], ['alice', 'carol']);
    ddbMock
      .on(TransactWriteCommand)
      .rejectsOnce(
        cancelled({ Code: 'None' }, { Code: 'ConditionalCheckFailed' }, { Code: 'None' }, { Code: 'None' }),
      )
      .resolves({});

    // Act
    const reply = await call({
      action: 'addMembers',
      conversationId: CONVERSATION,
      members: ['carol', 'dave'],
    });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', added: ['dave'] });
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetCommand, 4);
    expect(transactItems()).toEqual([
      [
        countUpdate(2),
        ...memberWrites('carol'),
        ...memberWrites('dave'),
        rosterChange('ADD', ['carol', 'dave']),
      ],
      [countUpdate(1), ...memberWrites('dave'), rosterChange('ADD', ['dave'])],
    ]);
  });

  it('gives up with busy and retryAfterMs after 3 attempts that keep conflicting', async () => {
    // Prepare
    givenConversation(['alice']);
    givenMembersRead(['alice']);
    ddbMock.on(TransactWriteCommand).rejects(cancelled({ Code: 'TransactionConflict' }, { Code: 'None' }));

    // Act
    const reply = await call({ action: 'addMembers', conversationId: CONVERSATION, members: ['carol'] });

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'busy',
      retryable: true,
      retryAfterMs: THROTTLED_RETRY_MS,
    });
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetCommand, 5);
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 3);
  });

  it('refuses as many users as the group size limit with limit_exceeded before reading or writing any of them', async () => {
    // Prepare
    givenConversation(['alice']);
    givenMembersRead(['alice']);

    // Act
    const reply = await call({
      action: 'addMembers',
      conversationId: CONVERSATION,
      members: users(LIMITS.maxGroupSize),
    });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'limit_exceeded', retryable: false });
    // Only the caller's own membership and the users' profiles were read.
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetCommand, 2);
    expectNothingWritten();
  });

  it('adds 99 users to a group of one in transactions of at most 100 items, each counting its own members', async () => {
    // Prepare
    givenConversation(['alice']);
    givenMembersRead(['alice']);
    ddbMock.on(TransactWriteCommand).resolves({});
    const members = users(LIMITS.maxGroupSize - 1);

    // Act
    const reply = await call({ action: 'addMembers', conversationId: CONVERSATION, members });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', added: members });
    const [first = [], second = [], third = [], ...rest] = transactItems();
    expect(rest).toEqual([]);
    // The first run needs room for the whole add, the next ones for what is left of it.
    expect([first[0], second[0], third[0]]).toEqual([
      countUpdate(49, 99),
      countUpdate(49, 50),
      countUpdate(1, 1),
    ]);
    expect([...first.slice(1, -1), ...second.slice(1, -1), ...third.slice(1, -1)]).toEqual(
      members.flatMap(memberWrites),
    );
    expect([first.at(-1), second.at(-1), third.at(-1)]).toEqual([
      rosterChange('ADD', members.slice(0, 49)),
      rosterChange('ADD', members.slice(49, 98)),
      rosterChange('ADD', members.slice(98)),
    ]);
  });

  it('checks, when the caller is no admin, that no user it adds was removed by an admin, in the same transaction', async () => {
    // Prepare
    callerRole = 'member';
    givenConversation(['alice']);
    givenMembersRead(['alice']);
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const reply = await call({ action: 'addMembers', conversationId: CONVERSATION, members: ['carol'] });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', added: ['carol'] });
    expect(transactItems()).toEqual([
      [
        countUpdate(1),
        ...memberWrites('carol'),
        {
          ConditionCheck: {
            TableName: tables.conversations,
            Key: { conversationId: CONVERSATION, sk: 'REMOVED#carol' },
            ConditionExpression: 'attribute_not_exists(conversationId) OR #kind <> :removed',
            ExpressionAttributeNames: { '#kind': 'kind' },
            ExpressionAttributeValues: { ':removed': 'member_removed' },
          },
        },
        rosterChange('ADD', ['carol']),
      ],
    ]);
  });

  it('refuses a plain member who adds back a user an admin removed with forbidden, writing nothing', async () => {
    // Prepare: carol's removal record says an admin removed her.
    callerRole = 'member';
    givenConversation(['alice']);
    givenMembersRead(['alice']);
    ddbMock
      .on(TransactWriteCommand)
      .rejects(
        cancelled({ Code: 'None' }, { Code: 'None' }, { Code: 'None' }, { Code: 'ConditionalCheckFailed' }),
      );

    // Act
    const reply = await call({ action: 'addMembers', conversationId: CONVERSATION, members: ['carol'] });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
    expect(String(reply.message)).toContain('add back carol');
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it('refuses with forbidden when a user blocks the caller, and writes nothing', async () => {
    // Prepare
    givenConversation(['alice']);
    givenMembersRead(['alice']);
    ddbMock.on(TransactWriteCommand).rejects(
      cancelled({ Code: 'None' }, { Code: 'None' }, {
        Code: 'ConditionalCheckFailed',
        Item: { blocked: { SS: ['alice'] } },
      } as CancellationReason),
    );

    // Act
    const reply = await call({ action: 'addMembers', conversationId: CONVERSATION, members: ['carol'] });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
    expect(String(reply.message)).not.toMatch(/block/i);
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it('reports an unexpected storage failure as a retryable internal_error', async () => {
    // Prepare
    givenConversation(['alice']);
    givenMembersRead(['alice']);
    ddbMock.on(TransactWriteCommand).rejects(new Error('throttled'));

    // Act
    const reply = await call({ action: 'addMembers', conversationId: CONVERSATION, members: ['carol'] });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'internal_error', retryable: true });
    expect(reply.message).not.toContain('throttled');
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });
});

describe('unsubscribe', () => {
  it("deletes only the calling connection's subscription", async () => {
    // Prepare
    ddbMock.on(DeleteCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({ Attributes: { conversations: new Set([CONVERSATION]) } });

    // Act
    const reply = await call({ action: 'unsubscribe', requestId: 'r-6', conversationId: CONVERSATION });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'unsubscribe',
      requestId: 'r-6',
      conversationId: CONVERSATION,
    });
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: tables.subscriptions,
      Key: { conversationId: CONVERSATION, connectionId: CONNECTION },
    });
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.connections,
      Key: { connectionId: CONNECTION },
      UpdateExpression: 'DELETE conversations :partitions',
    });
  });
});

describe('history', () => {
  it('reads the page before beforeSeq with the given limit and returns it ascending with the lastSeq', async () => {
    // Prepare
    givenConversation(['alice'], 12);
    givenStoredMessages(Array.from({ length: 12 }, (_, i) => i + 1));

    // Act
    const reply = await call({ action: 'history', conversationId: CONVERSATION, beforeSeq: 10, limit: 3 });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', conversationId: CONVERSATION, hasMore: true, lastSeq: 12 });
    expect(seqsOf(reply)).toEqual([7, 8, 9]);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.messages,
      ExpressionAttributeValues: { ':c': CONVERSATION, ':before': 10 },
      ScanIndexForward: false,
      Limit: 5,
    });
  });

  it('says there is no more history when the page holds exactly the oldest messages', async () => {
    // Prepare: messages 1 to 3 are all there is before seq 4.
    givenConversation(['alice'], 12);
    givenStoredMessages(Array.from({ length: 12 }, (_, i) => i + 1));

    // Act
    const reply = await call({ action: 'history', conversationId: CONVERSATION, beforeSeq: 4, limit: 3 });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', hasMore: false });
    expect(seqsOf(reply)).toEqual([1, 2, 3]);
  });

  it('reads the newest page with the default size when no cursor is given', async () => {
    // Prepare
    givenConversation(['alice'], 2);
    givenStoredMessages([1, 2]);

    // Act
    const reply = await call({ action: 'history', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ hasMore: false, lastSeq: 2 });
    expect(seqsOf(reply)).toEqual([1, 2]);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      KeyConditionExpression: 'conversationId = :c',
      Limit: LIMITS.defaultPageSize + 2,
    });
  });

  it("fills the holes of dead writers, the counter's last reservation witnessing those above the newest message", async () => {
    // Prepare: seqs 4 and 5 were reserved more than a writer lease ago and never stored.
    givenConversation(['alice'], 5, OLD);
    givenStoredMessages([1, 2, 3]);

    // Act
    const reply = await call({ action: 'history', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', hasMore: false, lastSeq: 5 });
    expect(reply.messages).toEqual([
      ...[1, 2, 3].map((seq) => expect.objectContaining({ seq, body: `message ${seq}` })),
      tombstone(4),
      tombstone(5),
    ]);
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 2);
    expect(metrics.record.mock.calls).toEqual([['tombstonesFilled'], ['tombstonesFilled']]);
  });

  it('reads the counter while it checks membership', async () => {
    // Prepare: no read is answered until the test releases them, which it does once both have started.
    const started: string[] = [];
    const startedWhenAnswered: number[] = [];
    const release = deferred();
    ddbMock.on(GetCommand).callsFake(async (input: GetCommandInput) => {
      started.push(input.Key?.sk === META_SK ? 'counter' : 'member');
      await release.promise;
      startedWhenAnswered.push(started.length);
      return { Item: { conversationId: CONVERSATION, lastSeq: 0 } };
    });
    givenStoredMessages([]);

    // Act: one read held back must not keep the other from starting.
    const replied = call({ action: 'history', conversationId: CONVERSATION });
    await vi.waitFor(() => expect(started).toHaveLength(2), { timeout: 5_000 });
    release.resolve();
    const reply = await replied;

    // Assess
    expect(reply).toMatchObject({ type: 'ack', messages: [], lastSeq: 0 });
    expect([...started].sort()).toEqual(['counter', 'member']);
    expect(startedWhenAnswered).toEqual([2, 2]);
  });
});

describe('listConversations', () => {
  it("lists a page of the caller's conversations from the byMember index, in its order, without the half-made ones", async () => {
    // Prepare: three memberships; c-gone has no META (its creation never finished); c-old is an untitled
    // group of five, named by its roster.
    ddbMock.on(QueryCommand, { IndexName: 'byMember' }).resolves({
      Items: [{ conversationId: 'c-old' }, { conversationId: 'c-gone' }, { conversationId: 'c-new' }],
    });
    const metas = [
      {
        conversationId: 'c-old',
        sk: META_SK,
        createdBy: 'bob',
        createdAt: '2030-01-01T00:00:00.000Z',
        lastSeq: 0,
        memberCount: 5,
      },
      {
        conversationId: 'c-new',
        sk: META_SK,
        title: 'Lunch',
        createdBy: 'alice',
        createdAt: '2029-12-01T00:00:00.000Z',
        lastSeq: 4,
        lastReservedAt: '2030-01-02T00:00:00.000Z',
        memberCount: 3,
      },
    ];
    const roster = {
      conversationId: 'c-old',
      sk: 'ROSTER',
      userIds: new Set(['erin', 'bob', 'alice', 'dave', 'carol']),
    };
    const rosterReads: unknown[] = [];
    ddbMock.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
      const keys = input.RequestItems?.[tables.conversations]?.Keys ?? [];
      if (keys.some((key) => key.sk === 'ROSTER')) rosterReads.push(keys);
      const items = keys.some((key) => key.sk === META_SK) ? metas : keys.length > 0 ? [roster] : [];
      return { Responses: { [tables.conversations]: items, [tables.messages]: [] } };
    });

    // Act
    const reply = await call({ action: 'listConversations', requestId: 'r-l' });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'listConversations',
      requestId: 'r-l',
      conversations: [
        {
          conversationId: 'c-old',
          members: ['alice', 'bob', 'carol', 'dave'],
          memberCount: 5,
          readSeq: 0,
          unread: 0,
          createdBy: 'bob',
          createdAt: '2030-01-01T00:00:00.000Z',
          lastSeq: 0,
          lastActivityAt: '2030-01-01T00:00:00.000Z',
        },
        {
          conversationId: 'c-new',
          title: 'Lunch',
          memberCount: 3,
          readSeq: 0,
          unread: 4,
          createdBy: 'alice',
          createdAt: '2029-12-01T00:00:00.000Z',
          lastSeq: 4,
          lastActivityAt: '2030-01-02T00:00:00.000Z',
        },
      ],
      hasMore: false,
    });
    // One page costs four requests: the index page, its METAs, then at once their newest entries and
    // the rosters of its untitled groups (only theirs).
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'byMember',
      ExpressionAttributeValues: { ':u': 'alice' },
      Limit: LIMITS.defaultPageSize,
    });
    expect(ddbMock.calls()).toHaveLength(4);
    expect(rosterReads).toEqual([[{ conversationId: 'c-old', sk: 'ROSTER' }]]);
  });

  it('returns at most `limit` conversations and says there are more', async () => {
    // Prepare
    const ids = ['a', 'b'];
    ddbMock.on(QueryCommand).resolves({
      Items: ids.map((conversationId) => ({ conversationId })),
      LastEvaluatedKey: { memberId: 'alice', conversationId: 'b', sk: 'MEMBER#alice' },
    });
    ddbMock.on(BatchGetCommand).resolves({
      Responses: {
        [tables.conversations]: ids.map((conversationId, i) => ({
          conversationId,
          createdBy: 'alice',
          createdAt: `2030-01-0${i + 1}T00:00:00.000Z`,
          lastSeq: 0,
        })),
      },
    });

    // Act
    const reply = await call({ action: 'listConversations', limit: 2 });

    // Assess
    expect((reply.conversations as { conversationId: string }[]).map((c) => c.conversationId)).toEqual([
      'a',
      'b',
    ]);
    expect(reply).toMatchObject({ hasMore: true, nextCursor: 'b' });
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, { IndexName: 'byMember', Limit: 2 });
  });
});

/**
 * The byMember index lists these conversations, a page of `Limit` after the ExclusiveStartKey as DynamoDB
 * does; BatchGet answers their METAs and these newest entries.
 */
function givenList(metas: Record<string, unknown>[], newest: Record<string, unknown>[] = []): void {
  const ids = metas.map(({ conversationId }) => String(conversationId)).sort();
  ddbMock.on(QueryCommand, { IndexName: 'byMember' }).callsFake((input: QueryCommandInput) => {
    const after = input.ExclusiveStartKey?.conversationId;
    const rest = ids.filter((id) => after === undefined || id > String(after));
    const page = rest.slice(0, input.Limit ?? rest.length);
    const last = page.at(-1);
    return {
      Items: page.map((conversationId) => ({ conversationId })),
      ...(rest.length > page.length && last !== undefined
        ? { LastEvaluatedKey: { memberId: 'alice', conversationId: last, sk: 'MEMBER#alice' } }
        : {}),
    };
  });
  ddbMock.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
    const [table, request] = Object.entries(input.RequestItems ?? {})[0] ?? [];
    const wanted = new Set((request?.Keys ?? []).map((key) => String(key.conversationId)));
    const items = table === tables.messages ? newest : metas;
    return {
      Responses: { [String(table)]: items.filter((item) => wanted.has(String(item.conversationId))) },
    };
  });
}

const metaAt = (conversationId: string, day: number, lastSeq = 0): Record<string, unknown> => ({
  conversationId,
  sk: META_SK,
  createdBy: 'alice',
  createdAt: '2030-01-01T00:00:00.000Z',
  lastSeq,
  lastReservedAt: `2030-01-${String(day).padStart(2, '0')}T00:00:00.000Z`,
});

describe('listConversations: pages and previews', () => {
  it('pages through every conversation once with nextCursor, in conversation id order', async () => {
    // Prepare: five conversations, two with the same activity time.
    givenList([metaAt('c1', 1), metaAt('c2', 2), metaAt('c3', 3), metaAt('c3b', 3), metaAt('c4', 4)]);

    // Act
    const first = await call({ action: 'listConversations', limit: 2 });
    const second = await call({ action: 'listConversations', limit: 2, cursor: first.nextCursor });
    const third = await call({ action: 'listConversations', limit: 2, cursor: second.nextCursor });

    // Assess
    const ids = (page: Record<string, unknown>) =>
      (page.conversations as { conversationId: string }[]).map((entry) => entry.conversationId);
    expect([ids(first), ids(second), ids(third)]).toEqual([['c1', 'c2'], ['c3', 'c3b'], ['c4']]);
    expect(first).toMatchObject({ hasMore: true, nextCursor: 'c2' });
    expect(third.hasMore).toBe(false);
    expect(third).not.toHaveProperty('nextCursor');
  });

  it('refuses a cursor it did not hand out with invalid_request, reading nothing', async () => {
    // Act
    const reply = await call({ action: 'listConversations', cursor: '2030-01-03T00:00:00.000Z|c3' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it("shows each listed conversation's newest entry: a message's first characters, a deletion, a membership change", async () => {
    // Prepare
    const long = `${'👋'.repeat(LIMITS.previewChars)}and more`;
    givenList(
      [
        metaAt('c-msg', 4, 7),
        metaAt('c-del', 3, 2),
        metaAt('c-left', 2, 5),
        metaAt('c-dead', 1, 9),
        metaAt('c-new', 1),
      ],
      [
        {
          conversationId: 'c-msg',
          seq: 7,
          senderId: 'bob',
          body: long,
          sentAt: '2030-01-04T00:00:00.000Z',
          editedAt: '2030-01-04T00:01:00.000Z',
          version: 2,
          attachment: {
            key: 'conversations/c-msg/0b7f3c1e-6a52-4d1f-9c11-2f5d7a9e8b40',
            contentType: 'image/png',
            size: 3,
          },
        },
        { conversationId: 'c-del', seq: 2, deleted: true, senderId: 'bob', deletedAt: 'T2', version: 2 },
        { conversationId: 'c-left', seq: 5, kind: 'member_left', userIds: ['carol'], by: 'carol', at: 'T5' },
        { conversationId: 'c-dead', seq: 9, tombstone: true },
      ],
    );

    // Act
    const reply = await call({ action: 'listConversations' });

    // Assess
    const last = Object.fromEntries(
      (reply.conversations as { conversationId: string; last?: unknown }[]).map((entry) => [
        entry.conversationId,
        entry.last,
      ]),
    );
    expect(last).toEqual({
      'c-msg': {
        kind: 'message',
        seq: 7,
        senderId: 'bob',
        sentAt: '2030-01-04T00:00:00.000Z',
        preview: '👋'.repeat(LIMITS.previewChars),
        truncated: true,
        edited: true,
        attachment: { contentType: 'image/png' },
      },
      'c-del': { kind: 'deleted', seq: 2, senderId: 'bob', deletedAt: 'T2' },
      'c-left': { kind: 'member_left', seq: 5, userIds: ['carol'], by: 'carol', at: 'T5' },
      'c-dead': undefined,
      'c-new': undefined,
    });
    expect(ddbMock).toHaveReceivedCommandWith(BatchGetCommand, {
      RequestItems: {
        [tables.messages]: {
          Keys: [
            { conversationId: 'c-dead', seq: 9 },
            { conversationId: 'c-del', seq: 2 },
            { conversationId: 'c-left', seq: 5 },
            { conversationId: 'c-msg', seq: 7 },
          ],
        },
      },
    });
  });
});

describe('ping', () => {
  it('acks at once without touching DynamoDB, so a quiet client can stay inside the idle timeout', async () => {
    // Act
    const reply = await call({ action: 'ping', requestId: 'keepalive' });

    // Assess
    expect(reply).toEqual({ type: 'ack', action: 'ping', requestId: 'keepalive' });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe('direct conversations', () => {
  const dmId = directConversationId('alice', 'bob');

  it('creates the one conversation of a pair under an id that does not depend on who asks', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const reply = await call({ action: 'createConversation', members: ['bob'], direct: true });

    // Assess
    expect(directConversationId('bob', 'alice')).toBe(dmId);
    expect(dmId).toMatch(/^dm-[A-Za-z0-9_-]{43}$/);
    expect(reply.conversation).toEqual({
      conversationId: dmId,
      direct: true,
      members: ['alice', 'bob'],
      createdBy: 'alice',
      createdAt: NOW.toISOString(),
      lastSeq: 0,
    });
    const [items] = transactItems();
    expect(items?.at(-1)?.Put?.Item).toMatchObject({ sk: META_SK, direct: true, members: ['alice', 'bob'] });
  });

  it('takes both users’ conversation slots in the transaction that creates it, refused if either blocks the caller', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    await call({ action: 'createConversation', members: ['bob'], direct: true });

    // Assess
    const [items = []] = transactItems();
    // A direct conversation asks no consent but the block list's.
    expect(items.filter((item) => item.Update)).toEqual([slotTake('alice'), slotTake('bob', 'alice', false)]);
  });

  it('refuses with forbidden, reading nothing back, when the other user blocks the caller', async () => {
    // Prepare: the pair has no conversation yet, and bob's slot condition fails on his block list.
    ddbMock.on(TransactWriteCommand).rejects(
      cancelled({ Code: 'None' }, { Code: 'None' }, { Code: 'None' }, {
        Code: 'ConditionalCheckFailed',
        Item: { blocked: { SS: ['alice'] } },
      } as CancellationReason),
    );

    // Act
    const reply = await call({ action: 'createConversation', members: ['bob'], direct: true });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
    expect(String(reply.message)).not.toMatch(/block/i);
    expect(ddbMock).not.toHaveReceivedCommand(GetCommand);
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
  });

  it('returns the existing conversation, writing nothing new, when the pair already has one', async () => {
    // Prepare: bob created it earlier.
    ddbMock
      .on(TransactWriteCommand)
      .rejects(
        cancelled(
          { Code: 'ConditionalCheckFailed' },
          { Code: 'ConditionalCheckFailed' },
          { Code: 'ConditionalCheckFailed' },
        ),
      );
    ddbMock.on(GetCommand, { Key: { conversationId: dmId, sk: META_SK } }).resolves({
      Item: {
        conversationId: dmId,
        sk: META_SK,
        direct: true,
        members: ['bob', 'alice'],
        createdBy: 'bob',
        createdAt: 'earlier',
        lastSeq: 7,
      },
    });

    // Act
    const reply = await call({ action: 'createConversation', members: ['bob'], direct: true });

    // Assess
    expect(reply.conversation).toEqual({
      conversationId: dmId,
      direct: true,
      members: ['bob', 'alice'],
      createdBy: 'bob',
      createdAt: 'earlier',
      lastSeq: 7,
    });
  });

  it('tries again when the other user opened it in the same instant and both transactions were cancelled', async () => {
    // Prepare
    ddbMock
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled({ Code: 'TransactionConflict' }, { Code: 'None' }, { Code: 'None' }))
      .resolves({});

    // Act
    const reply = await call({ action: 'createConversation', members: ['bob'], direct: true });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', conversation: { direct: true, members: ['alice', 'bob'] } });
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 2);
  });

  it.each([
    ['two other members', { members: ['bob', 'carol'] }],
    ['oneself', { members: ['alice'] }],
    ['a title', { members: ['bob'], title: 'Us' }],
  ])('refuses a direct conversation with %s and writes nothing', async (_case, fields) => {
    // Act
    const reply = await call({ action: 'createConversation', direct: true, ...fields });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('refuses to add members to a direct conversation', async () => {
    // Prepare
    givenConversation(['alice', 'bob']);
    ddbMock.on(TransactWriteCommand).rejects(
      cancelled({
        Code: 'ConditionalCheckFailed',
        Item: { direct: { BOOL: true }, memberCount: { N: '2' } },
      } as CancellationReason),
    );

    // Act
    const reply = await call({ action: 'addMembers', conversationId: CONVERSATION, members: ['carol'] });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(String(reply.message)).toContain('direct conversation');
  });
});

describe('read', () => {
  beforeEach(() => {
    givenConversation(['alice', 'bob'], 10);
  });

  it("moves the caller's read cursor forward with one conditional update", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const reply = await call({ action: 'read', requestId: 'r-r', conversationId: CONVERSATION, seq: 5 });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'read',
      requestId: 'r-r',
      conversationId: CONVERSATION,
      readSeq: 5,
      moved: true,
    });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { conversationId: CONVERSATION, sk: memberSk('alice') },
      UpdateExpression: 'SET readSeq = :seq, readAt = :now',
      ConditionExpression:
        'attribute_exists(conversationId) AND (attribute_not_exists(readSeq) OR readSeq < :seq)',
    });
  });

  it('never moves the cursor back: an older receipt answers with the cursor as it is', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'failed',
        $metadata: {},
        Item: { conversationId: { S: CONVERSATION }, readSeq: { N: '9' } },
      }),
    );

    // Act
    const reply = await call({ action: 'read', conversationId: CONVERSATION, seq: 4 });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', readSeq: 9, moved: false });
  });

  it('refuses a non-member with forbidden', async () => {
    // Prepare: no member item, so the condition fails with no old item.
    ddbMock
      .on(UpdateCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'failed', $metadata: {} }));

    // Act
    const reply = await call({ action: 'read', conversationId: CONVERSATION, seq: 4 });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
  });

  it('refuses a seq past the last one with invalid_request, and moves nothing', async () => {
    // Act
    const reply = await call({ action: 'read', conversationId: CONVERSATION, seq: 11 });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(String(reply.message)).toContain("seq: 11 is past the conversation's last seq, 10");
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      Key: { conversationId: CONVERSATION, sk: META_SK },
      ConsistentRead: true,
    });
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('refuses a non-member with forbidden, not with the last seq, when the seq is past it', async () => {
    // Prepare
    givenConversation(['bob'], 10);

    // Act
    const reply = await call({ action: 'read', conversationId: CONVERSATION, seq: 2 ** 40 });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('lists unread counts from the read cursors, never below zero', async () => {
    // Prepare
    ddbMock.on(QueryCommand, { IndexName: 'byMember' }).resolves({
      Items: [{ conversationId: 'c-1', readSeq: 3 }, { conversationId: 'c-2' }],
    });
    ddbMock.on(BatchGetCommand).resolves({
      Responses: {
        [tables.conversations]: [
          { conversationId: 'c-1', createdBy: 'alice', createdAt: '2030-01-02T00:00:00.000Z', lastSeq: 10 },
          { conversationId: 'c-2', createdBy: 'bob', createdAt: '2030-01-01T00:00:00.000Z', lastSeq: 4 },
        ],
      },
    });

    // Act
    const reply = await call({ action: 'listConversations' });

    // Assess
    expect(reply.conversations).toMatchObject([
      { conversationId: 'c-1', readSeq: 3, unread: 7 },
      { conversationId: 'c-2', readSeq: 0, unread: 4 },
    ]);
  });
});
