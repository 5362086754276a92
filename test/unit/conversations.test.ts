import { Logger } from '@aws-lambda-powertools/logger';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
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
import { beforeEach, describe, expect, it } from 'vitest';
import { createConversationsHandler, MAX_TRANSACTION_ITEMS } from '../../lambdas/conversations/conversations';
import { LIMITS } from '../../shared/limits';
import { META_SK, memberSk } from '../../shared/tables';
import type { RouteEvent } from '../../shared/websocket';

const tables = { conversations: 'conversations-t', subscriptions: 'subscriptions-t', messages: 'messages-t' };
const NOW = new Date('2030-01-02T03:04:05.000Z');
const CONVERSATION = 'conv-1';
const CONNECTION = 'conn-1';

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

const handler = createConversationsHandler({
  ddb,
  tables,
  logger: new Logger({ serviceName: 'chat-conversations', logLevel: 'SILENT' }),
  clock: () => NOW,
  newId: () => 'conv-new',
});

/** `principalId: null` builds an event that no authorizer has vouched for. */
function eventOf(body: unknown, principalId: string | null = 'alice'): RouteEvent {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const action = typeof body === 'object' && body !== null && 'action' in body ? String(body.action) : '';
  return {
    body: text,
    isBase64Encoded: false,
    requestContext: {
      connectionId: CONNECTION,
      requestId: 'aws-request-1',
      routeKey: action === '' ? '$default' : action,
      eventType: 'MESSAGE',
      messageId: 'msg-1',
      messageDirection: 'IN',
      extendedRequestId: 'ext-1',
      requestTime: '02/Jan/2030:03:04:05 +0000',
      requestTimeEpoch: NOW.getTime(),
      connectedAt: NOW.getTime() - 1000,
      domainName: 'example.execute-api.us-east-1.amazonaws.com',
      stage: 'test',
      apiId: 'api-1',
      authorizer: principalId === null ? undefined : { principalId },
    },
  } as RouteEvent;
}

async function call(body: unknown): Promise<Record<string, unknown>> {
  const result = await handler(eventOf(body));
  expect(result.statusCode).toBe(200);
  return JSON.parse(result.body) as Record<string, unknown>;
}

/** Answers GetCommand like the conversations table: `members` are members, META holds `lastSeq`. */
function givenConversation(members: string[], lastSeq = 0): void {
  ddbMock.on(GetCommand).callsFake((input: GetCommandInput) => {
    const sk = input.Key?.sk;
    if (sk === META_SK) return { Item: { conversationId: CONVERSATION, sk, lastSeq } };
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

function expectNothingWritten(): void {
  expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
  expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
}

beforeEach(() => {
  ddbMock.reset();
});

describe('subscribe (G5 gapless resume)', () => {
  it('stores the subscription before it starts reading the backlog', async () => {
    // Prepare: the Put completes a tick later, so reading concurrently with it would be recorded.
    givenConversation(['alice'], 6);
    const events: string[] = [];
    ddbMock.on(PutCommand).callsFake(async () => {
      events.push('put:start');
      await new Promise((resolve) => setImmediate(resolve));
      events.push('put:done');
      return {};
    });
    ddbMock.on(QueryCommand).callsFake(() => {
      events.push('query:start');
      return { Items: [stored(4), stored(5), stored(6)] };
    });

    // Act
    const reply = await call({ action: 'subscribe', conversationId: CONVERSATION, afterSeq: 3 });

    // Assess
    expect(reply.type).toBe('ack');
    expect(events).toEqual(['put:start', 'put:done', 'query:start']);
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.subscriptions,
      Item: expect.objectContaining({
        conversationId: CONVERSATION,
        connectionId: CONNECTION,
        userId: 'alice',
      }),
    });
  });

  it('returns the backlog after afterSeq in ascending order, read consistently', async () => {
    // Prepare
    givenConversation(['alice'], 6);
    ddbMock.on(PutCommand).resolves({});
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
    // Prepare
    givenConversation(['alice'], 500);
    ddbMock.on(PutCommand).resolves({});
    ddbMock.on(QueryCommand).resolves({
      Items: [stored(1), stored(2)],
      LastEvaluatedKey: { conversationId: CONVERSATION, seq: 2 },
    });

    // Act
    const reply = await call({ action: 'subscribe', conversationId: CONVERSATION, afterSeq: 0 });

    // Assess
    expect(reply).toMatchObject({ hasMore: true, lastSeq: 500 });
  });

  it('returns no backlog but the current lastSeq when afterSeq is omitted', async () => {
    // Prepare
    givenConversation(['alice'], 42);
    ddbMock.on(PutCommand).resolves({});

    // Act
    const reply = await call({ action: 'subscribe', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', messages: [], hasMore: false, lastSeq: 42 });
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 1);
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      Key: { conversationId: CONVERSATION, sk: META_SK },
      ConsistentRead: true,
    });
  });
});

describe('bad input changes nothing (G8)', () => {
  it.each([
    ['subscribe', { action: 'subscribe', requestId: 'r-9', conversationId: CONVERSATION, afterSeq: 0 }],
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

  it('refuses a conversation whose members do not fit in one transaction and writes nothing', async () => {
    // Prepare: the schema allows this many members, but with the caller and META it is one item too many.
    const members = Array.from({ length: MAX_TRANSACTION_ITEMS - 1 }, (_, i) => `user-${i}`);

    // Act
    const reply = await call({ action: 'createConversation', requestId: 'r-4', members });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request', requestId: 'r-4' });
    expect(reply.message).toContain(String(MAX_TRANSACTION_ITEMS));
    expectNothingWritten();
  });

  it('refuses more members than the protocol allows and writes nothing', async () => {
    // Prepare
    const members = Array.from({ length: LIMITS.maxMembers + 1 }, (_, i) => `user-${i}`);

    // Act
    const reply = await call({ action: 'createConversation', members });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expectNothingWritten();
  });

  it('refuses a frame without an authenticated user and writes nothing', async () => {
    // Act
    const reply = await handler(eventOf({ action: 'unsubscribe', conversationId: CONVERSATION }, null));

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

describe('createConversation', () => {
  it('writes META with lastSeq 0 and every member, the caller included, in one conditional transaction', async () => {
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
    const member = (userId: string) => ({
      Put: {
        TableName: tables.conversations,
        Item: {
          conversationId: 'conv-new',
          sk: memberSk(userId),
          memberId: userId,
          joinedAt: createdAt,
          addedBy: 'alice',
        },
      },
    });
    expect(ddbMock).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [
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
            },
            ConditionExpression: 'attribute_not_exists(conversationId)',
          },
        },
        member('alice'),
        member('bob'),
        member('carol'),
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
    const items = ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items.map((item) => item.Put?.Item?.sk)).toEqual([META_SK, memberSk('alice'), memberSk('bob')]);
  });

  it('accepts the largest conversation that fits in one transaction', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const members = Array.from({ length: MAX_TRANSACTION_ITEMS - 2 }, (_, i) => `user-${i}`);

    // Act
    const reply = await call({ action: 'createConversation', members });

    // Assess
    expect(reply.type).toBe('ack');
    const items = ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items).toHaveLength(MAX_TRANSACTION_ITEMS);
  });
});

describe('addMembers', () => {
  it('adds only the users who are not members yet', async () => {
    // Prepare
    givenConversation(['alice', 'bob']);
    ddbMock
      .on(PutCommand, { Item: { memberId: 'bob' } })
      .rejects(new ConditionalCheckFailedException({ message: 'exists', $metadata: {} }))
      .on(PutCommand, { Item: { memberId: 'carol' } })
      .resolves({});

    // Act
    const reply = await call({
      action: 'addMembers',
      conversationId: CONVERSATION,
      members: ['bob', 'carol'],
    });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', conversationId: CONVERSATION, added: ['carol'] });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.conversations,
      Item: {
        conversationId: CONVERSATION,
        sk: memberSk('carol'),
        memberId: 'carol',
        joinedAt: NOW.toISOString(),
        addedBy: 'alice',
      },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
    for (const call of ddbMock.commandCalls(PutCommand)) {
      expect(call.args[0].input.ConditionExpression).toBe('attribute_not_exists(conversationId)');
    }
  });

  it('reports an unexpected storage failure as a retryable internal_error', async () => {
    // Prepare
    givenConversation(['alice']);
    ddbMock.on(PutCommand).rejects(new Error('throttled'));

    // Act
    const reply = await call({ action: 'addMembers', conversationId: CONVERSATION, members: ['carol'] });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'internal_error', retryable: true });
    expect(reply.message).not.toContain('throttled');
  });
});

describe('unsubscribe', () => {
  it("deletes only the calling connection's subscription", async () => {
    // Prepare
    ddbMock.on(DeleteCommand).resolves({});

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
  });
});

describe('history', () => {
  it('reads the page before beforeSeq with the given limit and returns it ascending', async () => {
    // Prepare: DynamoDB returns a backwards Query newest first.
    givenConversation(['alice']);
    ddbMock.on(QueryCommand).resolves({
      Items: [stored(9), stored(8), stored(7)],
      LastEvaluatedKey: { conversationId: CONVERSATION, seq: 7 },
    });

    // Act
    const reply = await call({ action: 'history', conversationId: CONVERSATION, beforeSeq: 10, limit: 3 });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', conversationId: CONVERSATION, hasMore: true });
    expect((reply.messages as { seq: number }[]).map((m) => m.seq)).toEqual([7, 8, 9]);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.messages,
      ExpressionAttributeValues: { ':c': CONVERSATION, ':before': 10 },
      ScanIndexForward: false,
      Limit: 3,
    });
  });

  it('reads the newest page with the default size when no cursor is given', async () => {
    // Prepare
    givenConversation(['alice']);
    ddbMock.on(QueryCommand).resolves({ Items: [stored(2), stored(1)] });

    // Act
    const reply = await call({ action: 'history', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ hasMore: false });
    expect((reply.messages as { seq: number }[]).map((m) => m.seq)).toEqual([1, 2]);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      KeyConditionExpression: 'conversationId = :c',
      Limit: LIMITS.defaultPageSize,
    });
  });
});
