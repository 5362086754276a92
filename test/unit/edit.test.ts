import { Logger } from '@aws-lambda-powertools/logger';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type FanoutDeps, processRecord } from '../../lambdas/fanout/fanout';
import type { SendDeps } from '../../lambdas/send/deps';
import { createSendHandler } from '../../lambdas/send/routes';
import { THROTTLED_RETRY_MS } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { createDisconnector, createPoster } from '../../shared/poster';
import type { ChatMessage } from '../../shared/protocol';
import { encodeQueueBody, parseQueueBody } from '../../shared/queue-body';
import { messagesAfter } from '../../shared/store/messages';
import { SEND_INTERVAL_MS, SEND_TOLERANCE_MS } from '../../shared/store/send-bucket';
import { memberSk } from '../../shared/tables';
import type { RouteEvent } from '../../shared/websocket';
import { routeEvent } from '../support/api-gateway';

const TABLE_NAMES = {
  conversations: 'test-conversations',
  messages: 'test-messages',
  idempotency: 'test-idempotency',
};
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/fanout.fifo';
const NOW = new Date('2025-03-04T05:06:07.000Z');
const SENT_AT = '2025-03-04T05:00:00.000Z';

const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const sqs = new SQSClient({ region: 'eu-west-1' });
const ddbMock = mockClient(ddb);
const sqsMock = mockClient(sqs);
const apiMock = mockClient(ApiGatewayManagementApiClient);

const makeDeps = (): SendDeps & { logger: Logger } => ({
  ddb,
  sqs,
  tables: TABLE_NAMES,
  fanoutQueueUrl: QUEUE_URL,
  now: () => NOW,
  logger: new Logger({ serviceName: 'chat-edit-test', logLevel: 'SILENT' }),
  metrics: { record: vi.fn() },
});

/** `frame` on its route from `userId`'s connection, with the fields every frame of these tests shares. */
const frameEvent = (frame: Record<string, unknown>, userId = 'alice'): RouteEvent =>
  routeEvent({
    body: { requestId: 'r-1', conversationId: 'c1', seq: 7, ...frame },
    routeKey: String(frame.action),
    userId,
    connectionId: `conn-${userId}`,
  });

/** Runs one frame through the send function's handler, as `userId`, and returns the parsed reply. */
async function invoke(frame: Record<string, unknown>, userId = 'alice'): Promise<Record<string, unknown>> {
  const handler = createSendHandler(makeDeps());
  const result = await handler(frameEvent(frame, userId));
  return JSON.parse(result.body) as Record<string, unknown>;
}

/** The message at seq 7 as DynamoDB holds it (raw attribute values, as ALL_OLD returns them). */
const storedItem = (fields: Record<string, unknown> = {}) =>
  marshall(
    { conversationId: 'c1', seq: 7, senderId: 'alice', body: 'hello', sentAt: SENT_AT, ...fields },
    { removeUndefinedValues: true },
  );

function conditionFailed(item?: ReturnType<typeof storedItem>): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    ...(item === undefined ? {} : { Item: item }),
  });
}

/** The update of the message at seq 7 fails its condition; `item` is the message as it was. */
function givenConditionFails(item?: ReturnType<typeof storedItem>): void {
  ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.messages }).rejects(conditionFailed(item));
}

/** Every AWS call, in the order made. */
function awsCalls(): string[] {
  return [...ddbMock.calls(), ...sqsMock.calls()]
    .sort((a, b) => (a.calledBefore(b) ? -1 : 1))
    .map((call) => call.args[0].constructor.name);
}

function expectNothingEnqueued(): void {
  expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
}

beforeEach(() => {
  ddbMock.reset();
  sqsMock.reset();
  apiMock.reset();
  // alice and bob are members of c1 with a full send bucket; mallory is not a member.
  ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.conversations }).callsFake(({ Key }) => {
    if (![memberSk('alice'), memberSk('bob')].includes(Key?.sk)) throw conditionFailed();
    return { Attributes: { sendTat: NOW.getTime() + SEND_INTERVAL_MS } };
  });
  ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.messages }).callsFake(({ UpdateExpression }) => ({
    Attributes: String(UpdateExpression).includes('deleted')
      ? {
          conversationId: 'c1',
          seq: 7,
          senderId: 'alice',
          deleted: true,
          deletedAt: NOW.toISOString(),
          version: 1,
        }
      : {
          conversationId: 'c1',
          seq: 7,
          senderId: 'alice',
          body: 'hello, edited',
          editedAt: NOW.toISOString(),
          version: 1,
        },
  }));
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'sqs-1' });
});

describe('edit', () => {
  it('stores the new body with an atomic version bump, enqueues the edited event in the group, and only then acks: three AWS calls', async () => {
    // Act
    const reply = await invoke({ action: 'edit', body: 'hello, edited' });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'edit',
      requestId: 'r-1',
      conversationId: 'c1',
      seq: 7,
      version: 1,
      editedAt: NOW.toISOString(),
      duplicate: false,
    });
    expect(awsCalls()).toEqual(['UpdateCommand', 'UpdateCommand', 'SendMessageCommand']);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE_NAMES.messages,
      Key: { conversationId: 'c1', seq: 7 },
      UpdateExpression: 'SET body = :body, editedAt = :at ADD version :one',
      ConditionExpression: 'senderId = :sender AND attribute_not_exists(deleted) AND body <> :body',
      ExpressionAttributeValues: {
        ':body': 'hello, edited',
        ':at': NOW.toISOString(),
        ':one': 1,
        ':sender': 'alice',
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageGroupId: 'c1',
      MessageDeduplicationId: 'c1:7:v1',
      MessageBody: encodeQueueBody({
        kind: 'edit',
        conversationId: 'c1',
        seq: 7,
        body: 'hello, edited',
        editedAt: NOW.toISOString(),
        version: 1,
      }),
    });
  });

  it('gives no ack when the enqueue fails, and a resend of the same edit re-enqueues the stored version', async () => {
    // Prepare
    sqsMock.on(SendMessageCommand).rejectsOnce(new Error('SQS is unreachable'));

    // Act
    const failed = await invoke({ action: 'edit', body: 'hello, edited' });
    givenConditionFails(storedItem({ body: 'hello, edited', editedAt: NOW.toISOString(), version: 1 }));
    const resent = await invoke({ action: 'edit', body: 'hello, edited' });

    // Assess
    expect(failed).toMatchObject({ type: 'error', requestId: 'r-1', retryable: true });
    expect(resent).toMatchObject({ type: 'ack', version: 1, editedAt: NOW.toISOString(), duplicate: true });
    const dedupIds = sqsMock
      .commandCalls(SendMessageCommand)
      .map((call) => call.args[0].input.MessageDeduplicationId);
    expect(dedupIds).toEqual(['c1:7:v1', 'c1:7:v1']);
  });

  it('carries the version the atomic update produced, so a concurrent edit is not a conflict and the newest wins', async () => {
    // Prepare: another edit of the same message landed just before this one, so this one makes version 3.
    ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.messages }).resolves({
      Attributes: { senderId: 'alice', body: 'third', editedAt: NOW.toISOString(), version: 3 },
    });

    // Act
    const reply = await invoke({ action: 'edit', body: 'third' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', version: 3, duplicate: false });
    const messageUpdates = ddbMock.commandCalls(UpdateCommand, { TableName: TABLE_NAMES.messages });
    expect(messageUpdates).toHaveLength(1);
    const update = messageUpdates[0]?.args[0].input;
    expect(update?.ConditionExpression).not.toContain('version');
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, { MessageDeduplicationId: 'c1:7:v3' });
    const body = JSON.parse(String(sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody));
    expect(body).toMatchObject({ kind: 'edit', body: 'third', version: 3 });
  });

  it("refuses a member's edit of someone else's message with forbidden and enqueues nothing", async () => {
    // Prepare
    givenConditionFails(storedItem({ senderId: 'alice' }));

    // Act
    const reply = await invoke({ action: 'edit', body: 'bob was here' }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', retryable: false, requestId: 'r-1' });
    expectNothingEnqueued();
  });

  it('refuses a non-member with forbidden before touching the message', async () => {
    // Act
    const reply = await invoke({ action: 'edit', body: 'hi' }, 'mallory');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, { TableName: TABLE_NAMES.messages });
    expectNothingEnqueued();
  });

  it.each([
    ['a seq with no item', undefined],
    [
      "a dead writer's tombstone",
      marshall({ conversationId: 'c1', seq: 7, tombstone: true, sentAt: SENT_AT }),
    ],
    ['a deleted message', storedItem({ body: undefined, deleted: true, deletedAt: SENT_AT, version: 1 })],
  ])('answers not_found for %s and enqueues nothing', async (_case, item) => {
    // Prepare
    givenConditionFails(item);

    // Act
    const reply = await invoke({ action: 'edit', body: 'new' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'not_found', retryable: false });
    expectNothingEnqueued();
  });

  it.each([
    ['a lone surrogate', { body: 'broken \ud83d' }, 'invalid_request'],
    ['an empty body', { body: '' }, 'invalid_request'],
    ['a body over the limit', { body: 'x'.repeat(LIMITS.maxBodyBytes + 1) }, 'payload_too_large'],
    ['seq 0', { seq: 0, body: 'hi' }, 'invalid_request'],
    ['a missing seq', { seq: undefined, body: 'hi' }, 'invalid_request'],
    ['an unknown field', { body: 'hi', senderId: 'bob' }, 'invalid_request'],
  ])('refuses %s with %s before any AWS call', async (_case, fields, code) => {
    // Act
    const reply = await invoke({ action: 'edit', ...fields });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code });
    expect(awsCalls()).toEqual([]);
  });

  it('acks an edit of a never-edited message to its own body as version 0 without enqueuing', async () => {
    // Prepare
    givenConditionFails(storedItem({ body: 'hello' }));

    // Act
    const reply = await invoke({ action: 'edit', body: 'hello' });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'edit',
      requestId: 'r-1',
      conversationId: 'c1',
      seq: 7,
      version: 0,
      duplicate: true,
    });
    expectNothingEnqueued();
  });

  it('answers busy with retryAfterMs when DynamoDB throttles', async () => {
    // Prepare
    ddbMock
      .on(UpdateCommand, { TableName: TABLE_NAMES.messages })
      .rejects(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));

    // Act
    const reply = await invoke({ action: 'edit', body: 'new' });

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'busy',
      retryable: true,
      retryAfterMs: THROTTLED_RETRY_MS,
    });
    expectNothingEnqueued();
  });
});

describe('delete', () => {
  it('removes the body, marks the message deleted with a version bump, enqueues the deleted event and only then acks', async () => {
    // Act
    const reply = await invoke({ action: 'delete' });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'delete',
      requestId: 'r-1',
      conversationId: 'c1',
      seq: 7,
      version: 1,
      deletedAt: NOW.toISOString(),
      duplicate: false,
    });
    expect(awsCalls()).toEqual(['UpdateCommand', 'UpdateCommand', 'SendMessageCommand']);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE_NAMES.messages,
      Key: { conversationId: 'c1', seq: 7 },
      UpdateExpression:
        'SET deleted = :true, deletedAt = :at REMOVE body, editedAt, attachment ADD version :one',
      ConditionExpression: 'senderId = :sender AND attribute_not_exists(deleted)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageGroupId: 'c1',
      MessageDeduplicationId: 'c1:7:v1',
      MessageBody: encodeQueueBody({
        kind: 'delete',
        conversationId: 'c1',
        seq: 7,
        deletedAt: NOW.toISOString(),
        version: 1,
      }),
    });
  });

  it('acks a second delete with the stored version and enqueues the event again', async () => {
    // Prepare
    givenConditionFails(storedItem({ body: undefined, deleted: true, deletedAt: SENT_AT, version: 2 }));

    // Act
    const reply = await invoke({ action: 'delete' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', version: 2, deletedAt: SENT_AT, duplicate: true });
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, { MessageDeduplicationId: 'c1:7:v2' });
  });

  it('gives no ack when the enqueue fails', async () => {
    // Prepare
    sqsMock.on(SendMessageCommand).rejects(new Error('SQS is unreachable'));

    // Act
    const reply = await invoke({ action: 'delete' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', retryable: true });
  });

  it.each([
    ["someone else's message", storedItem({ senderId: 'alice' }), 'bob', 'forbidden'],
    ['a seq with no item', undefined, 'alice', 'not_found'],
    [
      "a dead writer's tombstone",
      marshall({ conversationId: 'c1', seq: 7, tombstone: true }),
      'alice',
      'not_found',
    ],
  ])('refuses to delete %s (%s… %s)', async (_case, item, userId, code) => {
    // Prepare
    givenConditionFails(item);

    // Act
    const reply = await invoke({ action: 'delete' }, userId);

    // Assess
    expect(reply).toMatchObject({ type: 'error', code });
    expectNothingEnqueued();
  });

  it('refuses a non-member before touching the message', async () => {
    // Act
    const reply = await invoke({ action: 'delete' }, 'mallory');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, { TableName: TABLE_NAMES.messages });
  });

  it.each(['edit', 'delete'] as const)(
    'takes a token of the send bucket, so an %s over the rate is rate_limited and touches nothing',
    async (action) => {
      // Prepare: alice's bucket is empty for another second.
      const emptyUntil = NOW.getTime() + SEND_TOLERANCE_MS + 1_000;
      ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.conversations }).rejects(
        new ConditionalCheckFailedException({
          message: 'failed',
          $metadata: {},
          Item: { conversationId: { S: 'c1' }, sendTat: { N: String(emptyUntil) } },
        }),
      );

      // Act
      const reply = await invoke(action === 'edit' ? { action, body: 'again' } : { action });

      // Assess
      expect(reply).toMatchObject({
        type: 'error',
        code: 'rate_limited',
        retryable: true,
        retryAfterMs: 1_000,
      });
      expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
        TableName: TABLE_NAMES.conversations,
        Key: { conversationId: 'c1', sk: memberSk('alice') },
      });
      expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, { TableName: TABLE_NAMES.messages });
      expectNothingEnqueued();
    },
  );
});

describe('a resent send of a message deleted since', () => {
  it('acks the original seq as a duplicate and pushes nothing again', async () => {
    // Prepare: the claim of m-1 is finished with seq 7, whose message was deleted; alice has send tokens.
    ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.conversations }).resolves({});
    ddbMock
      .on(PutCommand, { TableName: TABLE_NAMES.idempotency })
      .rejects(
        conditionFailed(
          marshall({ idempotencyKey: 'c1#alice#m-1', claimToken: 't', seq: 7, sentAt: SENT_AT }),
        ),
      );
    ddbMock.on(GetCommand, { TableName: TABLE_NAMES.messages }).resolves({
      Item: {
        conversationId: 'c1',
        seq: 7,
        senderId: 'alice',
        sentAt: SENT_AT,
        deleted: true,
        deletedAt: SENT_AT,
        version: 1,
      },
    });

    // Act
    const reply = await invoke({ action: 'send', seq: undefined, clientMessageId: 'm-1', body: 'hello' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', action: 'send', seq: 7, duplicate: true });
    expectNothingEnqueued();
  });
});

describe('queue bodies', () => {
  const message: ChatMessage = {
    conversationId: 'c1',
    seq: 7,
    senderId: 'alice',
    body: 'hi 👋',
    sentAt: SENT_AT,
  };

  it('still reads a bare ChatMessage, the body every message had before edits existed', () => {
    expect(parseQueueBody(encodeQueueBody(message))).toEqual({ ok: true, record: message });
  });

  it('reads edit and delete events', () => {
    const edit = { kind: 'edit', conversationId: 'c1', seq: 7, body: 'é', editedAt: SENT_AT, version: 1 };
    const del = { kind: 'delete', conversationId: 'c1', seq: 7, deletedAt: SENT_AT, version: 2 };
    expect(parseQueueBody(encodeQueueBody(edit))).toEqual({ ok: true, record: edit });
    expect(parseQueueBody(encodeQueueBody(del))).toEqual({ ok: true, record: del });
  });

  it.each([
    ['an unknown kind', { kind: 'constructor', conversationId: 'c1', seq: 7 }, /unknown record kind/],
    [
      'an edit without a version',
      { kind: 'edit', conversationId: 'c1', seq: 7, body: 'x', editedAt: SENT_AT },
      /edit event.*version/,
    ],
    [
      'a delete with a body',
      { kind: 'delete', conversationId: 'c1', seq: 7, deletedAt: SENT_AT, version: 1, body: 'x' },
      /delete event/,
    ],
  ])('refuses %s with a reason', (_case, body, reason) => {
    const parsed = parseQueueBody(JSON.stringify(body));
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.reason).toMatch(reason);
  });
});

describe('fan-out of edit and delete records', () => {
  const fanoutDeps = (): FanoutDeps => ({
    ddb,
    sqs,
    tables: { connections: 'connections-t', subscriptions: 'subscriptions-t' },
    deadLetterQueueUrl: 'https://sqs.local/000000000000/fanout-dlq.fifo',
    post: createPoster({
      client: new ApiGatewayManagementApiClient({}),
      sleep: async () => {},
      random: () => 0.5,
      options: { maxAttempts: 2 },
    }),
    disconnect: createDisconnector(new ApiGatewayManagementApiClient({})),
    logger: new Logger({ serviceName: 'chat-fanout-test', logLevel: 'SILENT' }),
  });

  const record = (body: unknown, dedupId: string): SQSRecord => ({
    messageId: dedupId,
    receiptHandle: `rh-${dedupId}`,
    body: encodeQueueBody(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'sender',
      ApproximateFirstReceiveTimestamp: '0',
      MessageGroupId: 'c1',
      MessageDeduplicationId: dedupId,
      SequenceNumber: '1',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:000000000000:fanout.fifo',
    awsRegion: 'eu-west-1',
  });

  const posted = (): unknown[] =>
    apiMock.commandCalls(PostToConnectionCommand).map((call) => JSON.parse(String(call.args[0].input.Data)));

  beforeEach(() => {
    ddbMock.on(QueryCommand).resolves({ Items: [{ connectionId: 'conn-bob' }] });
    apiMock.on(PostToConnectionCommand).resolves({});
    apiMock.on(DeleteConnectionCommand).resolves({});
  });

  it('pushes a message record as a message frame, an edit as edited and a delete as deleted, in record order', async () => {
    // Prepare
    const message = { conversationId: 'c1', seq: 7, senderId: 'alice', body: 'hi', sentAt: SENT_AT };
    const edit = {
      kind: 'edit',
      conversationId: 'c1',
      seq: 7,
      body: 'hi!',
      editedAt: NOW.toISOString(),
      version: 1,
    };
    const del = { kind: 'delete', conversationId: 'c1', seq: 7, deletedAt: NOW.toISOString(), version: 2 };

    // Act
    for (const [body, id] of [
      [message, 'c1:7'],
      [edit, 'c1:7:v1'],
      [del, 'c1:7:v2'],
    ] as const) {
      await processRecord(fanoutDeps(), record(body, id));
    }

    // Assess
    expect(posted()).toEqual([
      { type: 'message', ...message },
      { type: 'edited', conversationId: 'c1', seq: 7, body: 'hi!', editedAt: NOW.toISOString(), version: 1 },
      { type: 'deleted', conversationId: 'c1', seq: 7, deletedAt: NOW.toISOString(), version: 2 },
    ]);
  });

  it('moves a malformed edit record to the dead-letter queue instead of pushing it', async () => {
    // Act
    await processRecord(fanoutDeps(), record({ kind: 'edit', conversationId: 'c1', seq: 7 }, 'bad'));

    // Assess
    expect(apiMock).not.toHaveReceivedCommand(PostToConnectionCommand);
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, {
      QueueUrl: 'https://sqs.local/000000000000/fanout-dlq.fifo',
      MessageGroupId: 'c1',
    });
  });
});

describe('pages show the latest version', () => {
  it('returns an edited message with its new body, editedAt and version, and a deleted one without its body', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({
      Items: [
        {
          conversationId: 'c1',
          seq: 1,
          senderId: 'alice',
          body: 'v2',
          sentAt: SENT_AT,
          editedAt: NOW.toISOString(),
          version: 2,
          clientMessageId: 'm1',
        },
        {
          conversationId: 'c1',
          seq: 2,
          senderId: 'alice',
          sentAt: SENT_AT,
          deleted: true,
          deletedAt: NOW.toISOString(),
          version: 1,
          clientMessageId: 'm2',
        },
      ],
    });

    // Act
    const page = await messagesAfter(ddb, { messages: 'messages-t' }, 'c1', 0, {
      now: NOW,
      lastSeq: 2,
      lastReservedAt: SENT_AT,
    });

    // Assess
    expect(page.messages).toEqual([
      {
        conversationId: 'c1',
        seq: 1,
        senderId: 'alice',
        body: 'v2',
        sentAt: SENT_AT,
        editedAt: NOW.toISOString(),
        version: 2,
      },
      {
        conversationId: 'c1',
        seq: 2,
        tombstone: true,
        deleted: true,
        senderId: 'alice',
        deletedAt: NOW.toISOString(),
        version: 1,
      },
    ]);
  });
});
