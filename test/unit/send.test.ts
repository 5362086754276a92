import { Logger } from '@aws-lambda-powertools/logger';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MIN_SEND_BUDGET_MS, type SendDeps } from '../../lambdas/send/deps';
import { createSendHandler } from '../../lambdas/send/routes';
import { contentDigestOf, sendMessage } from '../../lambdas/send/send';
import { AdmissionGate } from '../../shared/admission';
import { type ErrorCode, THROTTLED_RETRY_MS } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import type { ChatMessage, SendFrame } from '../../shared/protocol';
import { encodeQueueBody } from '../../shared/queue-body';
import { idempotencyKeyOf } from '../../shared/store/idempotency';
import { SEND_INTERVAL_MS, SEND_TOLERANCE_MS } from '../../shared/store/send-bucket';
import { META_SK, memberSk, TTL_ATTRIBUTE } from '../../shared/tables';
import {
  type AuthorizerContext,
  type Caller,
  type InvocationContext,
  OUT_OF_TIME_RETRY_MS,
  REPLY_MARGIN_MS,
  type RouteEvent,
  type RouteResult,
} from '../../shared/websocket';
import { routeEvent } from '../support/api-gateway';

const TABLE_NAMES = {
  conversations: 'test-conversations',
  messages: 'test-messages',
  idempotency: 'test-idempotency',
};
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/fanout.fifo';
const NOW = new Date('2025-03-04T05:06:07.000Z');
const CLAIM_TOKEN = 'claim-token-1';
/** The idempotency key of alice's message m-1 in c1. */
const KEY = 'c1#alice#m-1';
/** META's lastSeq before the send: the send reserves 42. */
const LAST_SEQ = 41;
/** When the original of a resent message was stored. */
const ORIGINAL_SENT_AT = '2025-03-04T05:00:00.000Z';

const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const sqs = new SQSClient({ region: 'eu-west-1' });
const ddbMock = mockClient(ddb);
const sqsMock = mockClient(sqs);

const silentLogger = (): Logger => new Logger({ serviceName: 'chat-send-test', logLevel: 'SILENT' });

function makeDeps(overrides: Partial<SendDeps & { logger: Logger }> = {}): SendDeps & { logger: Logger } {
  return {
    ddb,
    sqs,
    tables: TABLE_NAMES,
    fanoutQueueUrl: QUEUE_URL,
    now: () => NOW,
    logger: silentLogger(),
    metrics: { record: vi.fn() },
    newClaimToken: () => CLAIM_TOKEN,
    ...overrides,
  };
}

const caller = (overrides: Partial<Caller> = {}): Caller => ({
  userId: 'alice',
  connectionId: 'conn-alice',
  awsRequestId: 'aws-1',
  deadline: NOW.getTime() + 10_000,
  signal: new AbortController().signal,
  ...overrides,
});

const frame = (overrides: Partial<SendFrame> = {}): SendFrame => ({
  action: 'send',
  conversationId: 'c1',
  clientMessageId: 'm-1',
  body: 'hello',
  ...overrides,
});

/** `body` on the `send` route from alice's connection; `null` leaves the authorizer out. */
const sendEvent = (
  body: string,
  authorizer: AuthorizerContext | null = { principalId: 'alice' },
): RouteEvent => routeEvent({ body, routeKey: 'send', connectionId: 'conn-alice', authorizer });

const rawFrame = (fields: Record<string, unknown> = {}): string =>
  JSON.stringify({
    action: 'send',
    requestId: 'r-1',
    conversationId: 'c1',
    clientMessageId: 'm-1',
    body: 'hello',
    ...fields,
  });

/** The Lambda context with `remainingMs` left in the invocation. */
const lambdaContext = (remainingMs: number): InvocationContext => ({
  getRemainingTimeInMillis: () => remainingMs,
});

const replyOf = (result: RouteResult): Record<string, unknown> =>
  JSON.parse(result.body) as Record<string, unknown>;

/** The message the send under test stores when it reserves `seq`. */
const messageAt = (seq: number, overrides: Partial<ChatMessage> = {}): ChatMessage => ({
  conversationId: 'c1',
  seq,
  senderId: 'alice',
  body: 'hello',
  sentAt: NOW.toISOString(),
  ...overrides,
});

/** The counter update of the send under test, and the sender's member item (membership and send rate). */
const COUNTER = { TableName: TABLE_NAMES.conversations, Key: { conversationId: 'c1', sk: META_SK } };
const MEMBER = { TableName: TABLE_NAMES.conversations, Key: { conversationId: 'c1', sk: memberSk('alice') } };

function conditionFailed(item?: Record<string, AttributeValue>): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    ...(item === undefined ? {} : { Item: item }),
  });
}

/** A cancelled commit, with one reason code per transaction item (message, claim). */
function cancelled(...codes: string[]): TransactionCanceledException {
  return new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
    $metadata: {},
    CancellationReasons: codes.map((Code) =>
      Code === 'None' ? { Code } : { Code, Message: 'The conditional request failed' },
    ),
  });
}

/** An error as the SDK throws it: only its name tells what happened. */
const awsError = (name: string): Error => Object.assign(new Error(`${name} from AWS`), { name });

/** The idempotency item of a finished send, as DynamoDB returns it with ALL_OLD: raw attribute values. */
const finishedClaim = (seq: number, content: Partial<SendFrame> = {}): Record<string, AttributeValue> => ({
  idempotencyKey: { S: KEY },
  conversationId: { S: 'c1' },
  contentDigest: { S: contentDigestOf(frame(content)) },
  claimToken: { S: 'first-attempt' },
  claimedAt: { N: String(Date.parse(ORIGINAL_SENT_AT) - 50) },
  seq: { N: String(seq) },
  sentAt: { S: ORIGINAL_SENT_AT },
  [TTL_ATTRIBUTE]: { N: '1900000000' },
});

/** The idempotency item of an attempt still in flight (no seq yet), claimed `ageMs` before NOW. */
const liveClaim = (ageMs: number, content: Partial<SendFrame> = {}): Record<string, AttributeValue> => ({
  idempotencyKey: { S: KEY },
  conversationId: { S: 'c1' },
  contentDigest: { S: contentDigestOf(frame(content)) },
  claimToken: { S: 'first-attempt' },
  claimedAt: { N: String(NOW.getTime() - ageMs) },
  [TTL_ATTRIBUTE]: { N: '1900000000' },
});

/** Every AWS call of both clients, in the order they were made. */
function awsCalls(): string[] {
  return [...ddbMock.calls(), ...sqsMock.calls()]
    .sort((a, b) => (a.calledBefore(b) ? -1 : 1))
    .map((call) => call.args[0].constructor.name);
}

/** The options (abort signal) the code passed with its most recent DynamoDB call. */
function lastDdbOptions(): { abortSignal?: AbortSignal } | undefined {
  const args: unknown[] = ddbMock.calls().at(-1)?.args ?? [];
  return args[1] as { abortSignal?: AbortSignal } | undefined;
}

function expectClaimReleased(): void {
  expect(ddbMock).toHaveReceivedCommandExactlyOnceWith(DeleteCommand, {
    TableName: TABLE_NAMES.idempotency,
    Key: { idempotencyKey: KEY },
    ConditionExpression: 'claimToken = :token AND attribute_not_exists(seq)',
    ExpressionAttributeValues: { ':token': CLAIM_TOKEN },
  });
}

function expectNoReservation(): void {
  expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, COUNTER);
}

let lastSeq: number;

/** Alice is a member of c1, whose counter stands at LAST_SEQ; every write succeeds. */
function givenEverythingSucceeds(): void {
  lastSeq = LAST_SEQ;
  ddbMock.on(PutCommand).resolves({});
  ddbMock.on(UpdateCommand).resolves({});
  ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.conversations }).callsFake(({ Key }) => {
    if (Key?.sk !== memberSk('alice')) throw conditionFailed();
    return {};
  });
  ddbMock.on(UpdateCommand, COUNTER).callsFake(() => {
    lastSeq += 1;
    return { Attributes: { lastSeq } };
  });
  ddbMock.on(TransactWriteCommand).resolves({});
  ddbMock.on(DeleteCommand).resolves({});
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'sqs-1' });
}

/** The claim put collides with `item` (returned with ALL_OLD), and the message of seq 7 is stored. */
function givenClaimExists(item: Record<string, AttributeValue>): void {
  ddbMock.on(PutCommand, { TableName: TABLE_NAMES.idempotency }).rejectsOnce(conditionFailed(item));
  ddbMock
    .on(GetCommand, { TableName: TABLE_NAMES.messages })
    .resolves({ Item: { ...messageAt(7, { sentAt: ORIGINAL_SENT_AT }), clientMessageId: 'm-1' } });
}

beforeEach(() => {
  ddbMock.reset();
  sqsMock.reset();
  givenEverythingSucceeds();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('send: the hot path (G1, G2)', () => {
  it('stores, enqueues and acks a message with exactly five AWS calls, in that order', async () => {
    // Prepare
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'send',
      requestId: 'r-1',
      conversationId: 'c1',
      seq: 42,
      sentAt: NOW.toISOString(),
      duplicate: false,
    });
    expect(awsCalls()).toEqual([
      'UpdateCommand',
      'PutCommand',
      'UpdateCommand',
      'TransactWriteCommand',
      'SendMessageCommand',
    ]);
  });

  it('checks membership and takes a send token in one conditional update of the member item', async () => {
    // Act
    await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      ...MEMBER,
      UpdateExpression: 'SET sendTat = :next',
      ConditionExpression: 'attribute_exists(sk) AND (attribute_not_exists(sendTat) OR sendTat <= :now)',
      ExpressionAttributeValues: { ':next': NOW.getTime() + SEND_INTERVAL_MS, ':now': NOW.getTime() },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('stores the attachment reference with the message and enqueues it', async () => {
    // Prepare
    const attachment = {
      key: 'conversations/c1/0b7f3c1e-6a52-4d1f-9c11-2f5d7a9e8b40',
      contentType: 'image/png' as const,
      size: 68,
    };

    // Act
    await sendMessage(makeDeps(), frame({ attachment }), caller());

    // Assess
    const stored = ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Put?.Item;
    expect(stored).toMatchObject({ seq: 42, attachment });
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, {
      MessageBody: encodeQueueBody(messageAt(42, { attachment })),
    });
  });

  it('claims the clientMessageId per conversation and sender with a conditional put that returns the old claim', async () => {
    // Act
    await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(idempotencyKeyOf('c1', 'alice', 'm-1')).toBe(KEY);
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE_NAMES.idempotency,
      Item: {
        idempotencyKey: KEY,
        conversationId: 'c1',
        contentDigest: contentDigestOf(frame()),
        claimToken: CLAIM_TOKEN,
        claimedAt: NOW.getTime(),
        [TTL_ATTRIBUTE]: Math.floor(NOW.getTime() / 1000) + LIMITS.idempotencyTtlSeconds,
      },
      ConditionExpression: 'attribute_not_exists(idempotencyKey)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('reserves the seq with one atomic increment of the counter, only in an existing conversation', async () => {
    // Act
    await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ddbMock.commandCalls(UpdateCommand, COUNTER)).toHaveLength(1);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      ...COUNTER,
      UpdateExpression: 'SET lastReservedAt = :at ADD lastSeq :one',
      ConditionExpression: 'attribute_exists(conversationId)',
      ExpressionAttributeValues: { ':one': 1, ':at': NOW.toISOString() },
      ReturnValues: 'UPDATED_NEW',
    });
  });

  it('stores the message under the reserved seq and finishes the claim in one transaction', async () => {
    // Act
    await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ddbMock).toHaveReceivedCommandExactlyOnceWith(TransactWriteCommand, {
      TransactItems: [
        {
          Put: {
            TableName: TABLE_NAMES.messages,
            Item: { ...messageAt(42), clientMessageId: 'm-1' },
            ConditionExpression: 'attribute_not_exists(conversationId)',
          },
        },
        {
          Update: {
            TableName: TABLE_NAMES.idempotency,
            Key: { idempotencyKey: KEY },
            UpdateExpression: 'SET seq = :seq, sentAt = :sentAt',
            ConditionExpression: 'claimToken = :token AND attribute_not_exists(seq)',
            ExpressionAttributeValues: { ':seq': 42, ':sentAt': NOW.toISOString(), ':token': CLAIM_TOKEN },
          },
        },
      ],
    });
  });

  it('finishes the claim with the same random token it claimed with when no token maker is given', async () => {
    // Prepare
    const deps = makeDeps();
    delete deps.newClaimToken;

    // Act
    await sendMessage(deps, frame(), caller());
    await sendMessage(deps, frame({ clientMessageId: 'm-2' }), caller());

    // Assess
    const claimed = ddbMock.commandCalls(PutCommand).map((call) => call.args[0].input.Item?.claimToken);
    const finished = ddbMock
      .commandCalls(TransactWriteCommand)
      .map((call) => call.args[0].input.TransactItems?.[1]?.Update?.ExpressionAttributeValues?.[':token']);
    expect(claimed).toEqual([
      expect.stringMatching(/^[0-9a-f-]{36}$/),
      expect.stringMatching(/^[0-9a-f-]{36}$/),
    ]);
    expect(claimed[0]).not.toBe(claimed[1]);
    expect(finished).toEqual(claimed);
  });

  it('enqueues on the conversation group, deduplicated by conversation and seq, as ASCII-only JSON', async () => {
    // Prepare
    const body = 'héllo 👋 \uFFFE\u0000 end';

    // Act
    await sendMessage(makeDeps(), frame({ body }), caller());

    // Assess
    const message = messageAt(42, { body });
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageGroupId: 'c1',
      MessageDeduplicationId: 'c1:42',
      MessageBody: encodeQueueBody(message),
    });
    const sent = sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody ?? '';
    expect(sent).toMatch(/^[\x20-\x7e]+$/);
    expect(JSON.parse(sent)).toEqual(message);
  });

  it('takes sentAt after the reservation, so it is never earlier than the reservation time', async () => {
    // Prepare: the reservation takes 5 ms of the clock.
    let clock = NOW.getTime();
    ddbMock.on(UpdateCommand, COUNTER).callsFake(() => {
      clock += 5;
      return { Attributes: { lastSeq: 42 } };
    });

    // Act
    const ack = await sendMessage(makeDeps({ now: () => new Date(clock) }), frame(), caller());

    // Assess
    const reservedAt = new Date(NOW.getTime()).toISOString();
    const storedAt = new Date(NOW.getTime() + 5).toISOString();
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE_NAMES.conversations,
      ExpressionAttributeValues: { ':one': 1, ':at': reservedAt },
    });
    expect(ddbMock).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [
        { Put: expect.objectContaining({ Item: expect.objectContaining({ sentAt: storedAt }) }) },
        expect.anything(),
      ],
    });
    expect(ack.sentAt).toBe(storedAt);
  });

  it('acks only once SendMessage has succeeded', async () => {
    // Prepare
    let enqueued: (value: { MessageId: string }) => void = () => {};
    sqsMock.on(SendMessageCommand).callsFake(
      () =>
        new Promise((resolve) => {
          enqueued = resolve;
        }),
    );
    let acked = false;

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller()).then((ack) => {
      acked = true;
      return ack;
    });
    await vi.waitFor(() => expect(sqsMock).toHaveReceivedCommand(SendMessageCommand));
    await new Promise((resolve) => setImmediate(resolve));
    const ackedBeforeEnqueue = acked;
    enqueued({ MessageId: 'sqs-1' });

    // Assess
    expect(ackedBeforeEnqueue).toBe(false);
    await expect(sending).resolves.toMatchObject({ seq: 42, duplicate: false });
  });

  it('answers an error frame, and keeps the claim, when SendMessage fails after the message was stored', async () => {
    // Prepare
    sqsMock.on(SendMessageCommand).rejects(new Error('SQS is unavailable'));
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toEqual({
      type: 'error',
      requestId: 'r-1',
      code: 'internal_error',
      message: expect.any(String),
      retryable: true,
    });
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    // The message is stored: the resend must find the finished claim and take the duplicate path.
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
  });

  it('never enqueues a message whose commit failed', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(new Error('socket hang up'));

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toThrow('socket hang up');
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });
});

/** The sender's member item, as a failed condition returns it, with its bucket `aheadMs` past now. */
const memberWithBucket = (aheadMs: number): Record<string, AttributeValue> =>
  marshall({ conversationId: 'c1', sk: memberSk('alice'), sendTat: NOW.getTime() + aheadMs });

describe('send: the per-user send rate (token bucket on the member item)', () => {
  const FULL_BUCKET = {
    UpdateExpression: 'SET sendTat = :next',
    ConditionExpression: 'attribute_exists(sk) AND (attribute_not_exists(sendTat) OR sendTat <= :now)',
    ExpressionAttributeValues: { ':next': NOW.getTime() + SEND_INTERVAL_MS, ':now': NOW.getTime() },
  };
  const BUCKET_IN_USE = {
    UpdateExpression: 'SET sendTat = sendTat + :interval',
    ConditionExpression: 'attribute_exists(sk) AND sendTat > :now AND sendTat <= :limit',
    ExpressionAttributeValues: {
      ':interval': SEND_INTERVAL_MS,
      ':now': NOW.getTime(),
      ':limit': NOW.getTime() + SEND_TOLERANCE_MS,
    },
  };

  it('spends a second conditional update, and stores the message, when the bucket turns out to be in use', async () => {
    // Prepare
    ddbMock
      .on(UpdateCommand, MEMBER)
      .rejectsOnce(conditionFailed(memberWithBucket(500)))
      .resolves({ Attributes: { sendTat: NOW.getTime() + 500 + SEND_INTERVAL_MS } });
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ type: 'ack', seq: 42 });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 1, { ...MEMBER, ...FULL_BUCKET });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 2, { ...MEMBER, ...BUCKET_IN_USE });
    expect(awsCalls()).toEqual([
      'UpdateCommand',
      'UpdateCommand',
      'PutCommand',
      'UpdateCommand',
      'TransactWriteCommand',
      'SendMessageCommand',
    ]);
  });

  it('tries the in-use update first when this environment just saw the bucket in use, so a quick second send costs five calls', async () => {
    // Prepare: the first send finds the bucket full and leaves it one interval ahead of now.
    ddbMock.on(UpdateCommand, MEMBER).resolves({ Attributes: { sendTat: NOW.getTime() + SEND_INTERVAL_MS } });
    const handler = createSendHandler(makeDeps());
    await handler(sendEvent(rawFrame({ clientMessageId: 'm-1' })));
    ddbMock.resetHistory();
    sqsMock.resetHistory();

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame({ clientMessageId: 'm-2' }))));

    // Assess
    expect(reply).toMatchObject({ type: 'ack' });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 1, { ...MEMBER, ...BUCKET_IN_USE });
    expect(awsCalls()).toEqual([
      'UpdateCommand',
      'PutCommand',
      'UpdateCommand',
      'TransactWriteCommand',
      'SendMessageCommand',
    ]);
  });

  it('counts sends that run at once in one environment, so they guess the bucket in use', async () => {
    // Prepare: the member updates are held until both sends have started.
    const started: string[] = [];
    let release = (): void => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    ddbMock.on(UpdateCommand, MEMBER).callsFake(async (input) => {
      started.push(input.UpdateExpression);
      if (started.length === 2) release();
      await held;
      return { Attributes: { sendTat: NOW.getTime() + started.length * SEND_INTERVAL_MS } };
    });
    const handler = createSendHandler(makeDeps());

    // Act
    await Promise.all([
      handler(sendEvent(rawFrame({ clientMessageId: 'm-1' }))),
      handler(sendEvent(rawFrame({ clientMessageId: 'm-2' }))),
    ]);

    // Assess
    expect(started).toEqual([FULL_BUCKET.UpdateExpression, BUCKET_IN_USE.UpdateExpression]);
  });

  it('refuses rate_limited, retryable after the time a token takes, and writes nothing when the bucket is empty', async () => {
    // Prepare
    ddbMock.on(UpdateCommand, MEMBER).rejects(conditionFailed(memberWithBucket(SEND_TOLERANCE_MS + 250)));
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toEqual({
      type: 'error',
      requestId: 'r-1',
      code: 'rate_limited',
      message: expect.any(String),
      retryable: true,
      retryAfterMs: 250,
    });
    expect(awsCalls()).toEqual(['UpdateCommand']);
  });

  it('refuses rate_limited when concurrent sends take the last tokens between its updates', async () => {
    // Prepare
    ddbMock
      .on(UpdateCommand, MEMBER)
      .rejectsOnce(conditionFailed(memberWithBucket(SEND_TOLERANCE_MS)))
      .rejects(conditionFailed(memberWithBucket(SEND_TOLERANCE_MS + SEND_INTERVAL_MS)));
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ code: 'rate_limited', retryable: true, retryAfterMs: SEND_INTERVAL_MS });
    expect(awsCalls()).toEqual(['UpdateCommand', 'UpdateCommand']);
  });

  it('follows the bucket as concurrent sends move it between full and in use, then answers busy after four updates', async () => {
    // Prepare: each update finds the bucket in the other state.
    ddbMock
      .on(UpdateCommand, MEMBER)
      .rejectsOnce(conditionFailed(memberWithBucket(100)))
      .rejectsOnce(conditionFailed(memberWithBucket(-100)))
      .rejectsOnce(conditionFailed(memberWithBucket(100)))
      .rejects(conditionFailed(memberWithBucket(-100)));
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ code: 'busy', retryable: true, retryAfterMs: SEND_INTERVAL_MS });
    expect(ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input.UpdateExpression)).toEqual([
      FULL_BUCKET.UpdateExpression,
      BUCKET_IN_USE.UpdateExpression,
      FULL_BUCKET.UpdateExpression,
      BUCKET_IN_USE.UpdateExpression,
    ]);
  });
});

describe('send: only members write (G8)', () => {
  it('refuses a non-member with forbidden and writes nothing, not even a claim', async () => {
    // Prepare
    ddbMock.on(UpdateCommand, MEMBER).rejects(conditionFailed());
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toEqual({
      type: 'error',
      requestId: 'r-1',
      code: 'forbidden',
      message: expect.any(String),
      retryable: false,
    });
    expect(awsCalls()).toEqual(['UpdateCommand']);
  });

  it('refuses with forbidden, and gives the claim back, when the conversation has no counter', async () => {
    // Prepare
    ddbMock.on(UpdateCommand, COUNTER).rejects(conditionFailed());
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'forbidden', retryable: false });
    expectClaimReleased();
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('refuses a caller without an authenticated user and calls nothing', async () => {
    // Prepare
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame(), null)));

    // Assess
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'unauthorized' });
    expect(awsCalls()).toEqual([]);
  });
});

describe('send: bad input changes nothing (G8)', () => {
  const limit = LIMITS.maxBodyBytes;
  const multibyteOver = '€'.repeat(Math.floor(limit / 3) + 1);

  it.each<{ input: string; body: string; code: ErrorCode; requestId?: string }>([
    { input: 'malformed JSON', body: '{"action":"send",', code: 'invalid_json' },
    {
      input: 'a missing clientMessageId',
      body: rawFrame({ clientMessageId: undefined }),
      code: 'invalid_request',
      requestId: 'r-1',
    },
    { input: 'a wrong-typed body', body: rawFrame({ body: 42 }), code: 'invalid_request', requestId: 'r-1' },
    {
      input: 'a wrong-typed conversationId',
      body: rawFrame({ conversationId: ['c1'] }),
      code: 'invalid_request',
      requestId: 'r-1',
    },
    {
      input: 'an unknown extra field',
      body: rawFrame({ senderId: 'mallory' }),
      code: 'invalid_request',
      requestId: 'r-1',
    },
    { input: 'an empty body', body: rawFrame({ body: '' }), code: 'invalid_request', requestId: 'r-1' },
    {
      input: 'a body with a lone surrogate',
      body: rawFrame({ body: 'broken \uD83D here' }),
      code: 'invalid_request',
      requestId: 'r-1',
    },
    {
      input: 'a body one byte over the limit',
      body: rawFrame({ body: 'a'.repeat(limit + 1) }),
      code: 'payload_too_large',
      requestId: 'r-1',
    },
    {
      input: 'a multibyte body over the byte limit',
      body: rawFrame({ body: multibyteOver }),
      code: 'payload_too_large',
      requestId: 'r-1',
    },
    {
      input: 'a frame over 32 KB',
      body: rawFrame({ body: 'a'.repeat(LIMITS.maxFrameBytes) }),
      code: 'payload_too_large',
    },
    {
      input: 'an unknown action',
      body: rawFrame({ action: 'sned' }),
      code: 'unknown_action',
      requestId: 'r-1',
    },
  ])('refuses $input with $code and calls nothing', async ({ body, code, requestId }) => {
    // Prepare
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(body)));

    // Assess
    expect(reply).toEqual({
      type: 'error',
      ...(requestId === undefined ? {} : { requestId }),
      code,
      message: expect.any(String),
      retryable: false,
    });
    expect(awsCalls()).toEqual([]);
  });

  it('measures the body limit in UTF-8 bytes, accepting exactly the limit', async () => {
    // Prepare
    const atLimit = `${'€'.repeat(Math.floor(limit / 3))}${'a'.repeat(limit % 3)}`;
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame({ body: atLimit }))));

    // Assess
    expect(Buffer.byteLength(atLimit, 'utf8')).toBe(limit);
    expect(multibyteOver.length).toBeLessThan(limit);
    expect(reply).toMatchObject({ type: 'ack', action: 'send', requestId: 'r-1', seq: 42, duplicate: false });
  });
});

describe('send: a resend is the same message (G3)', () => {
  it('acks a resend of a stored message with its original seq, re-enqueues it and stores nothing', async () => {
    // Prepare
    givenClaimExists(finishedClaim(7));
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'send',
      requestId: 'r-1',
      conversationId: 'c1',
      seq: 7,
      sentAt: ORIGINAL_SENT_AT,
      duplicate: true,
    });
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE_NAMES.messages,
      Key: { conversationId: 'c1', seq: 7 },
      ConsistentRead: true,
    });
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageGroupId: 'c1',
      MessageDeduplicationId: 'c1:7',
      MessageBody: encodeQueueBody(messageAt(7, { sentAt: ORIGINAL_SENT_AT })),
    });
    expect(awsCalls()).toEqual(['UpdateCommand', 'PutCommand', 'GetCommand', 'SendMessageCommand']);
  });

  it.each([
    { claim: 'stored', existing: () => finishedClaim(7, { body: 'hello, bob' }) },
    { claim: 'still in flight', existing: () => liveClaim(100, { body: 'hello, bob' }) },
    {
      claim: 'stored with the same body and an attachment',
      existing: () =>
        finishedClaim(7, { attachment: { key: 'conversations/c1/f1', contentType: 'image/png', size: 9 } }),
    },
  ])(
    'answers conflict, writing and enqueuing nothing, to a clientMessageId already used for other content ($claim)',
    async ({ existing }) => {
      // Prepare
      givenClaimExists(existing());
      const handler = createSendHandler(makeDeps());

      // Act
      const reply = replyOf(await handler(sendEvent(rawFrame())));

      // Assess
      expect(reply).toEqual({
        type: 'error',
        requestId: 'r-1',
        code: 'conflict',
        message: expect.stringContaining('clientMessageId m-1 was already used for another message'),
        retryable: false,
      });
      expect(awsCalls()).toEqual(['UpdateCommand', 'PutCommand']);
    },
  );

  it('acks a resend as a duplicate when its claim predates content digests', async () => {
    // Prepare
    const { contentDigest: _, ...legacy } = finishedClaim(7, { body: 'other' });
    givenClaimExists(legacy);

    // Act
    const ack = await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ack).toEqual({ conversationId: 'c1', seq: 7, sentAt: ORIGINAL_SENT_AT, duplicate: true });
  });

  it('reads the claim consistently when the failed claim put returned no item', async () => {
    // Prepare
    ddbMock.on(PutCommand, { TableName: TABLE_NAMES.idempotency }).rejectsOnce(conditionFailed());
    ddbMock.on(GetCommand, { TableName: TABLE_NAMES.idempotency }).resolves({
      Item: { idempotencyKey: KEY, conversationId: 'c1', seq: 7, sentAt: ORIGINAL_SENT_AT },
    });
    ddbMock
      .on(GetCommand, { TableName: TABLE_NAMES.messages })
      .resolves({ Item: messageAt(7, { sentAt: ORIGINAL_SENT_AT }) });

    // Act
    const ack = await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ack).toEqual({ conversationId: 'c1', seq: 7, sentAt: ORIGINAL_SENT_AT, duplicate: true });
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE_NAMES.idempotency,
      Key: { idempotencyKey: KEY },
      ConsistentRead: true,
    });
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      MessageDeduplicationId: 'c1:7',
    });
    expect(ddbMock.commandCalls(UpdateCommand, COUNTER)).toHaveLength(0);
    expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, { TableName: TABLE_NAMES.idempotency });
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('answers busy, writing nothing more, when the claim it collided with was given back in the meantime', async () => {
    // Prepare
    ddbMock.on(PutCommand, { TableName: TABLE_NAMES.idempotency }).rejectsOnce(conditionFailed());
    ddbMock.on(GetCommand, { TableName: TABLE_NAMES.idempotency }).resolves({});
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'busy', retryAfterMs: 250 });
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 1);
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('answers internal_error when a finished claim points at a missing message', async () => {
    // Prepare
    givenClaimExists(finishedClaim(7));
    ddbMock.on(GetCommand, { TableName: TABLE_NAMES.messages }).resolves({});
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'internal_error', retryable: true });
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it.each([
    { age: 'just claimed', ageMs: 100, retryAfterMs: 5_000 },
    { age: '600 ms from the end of its lease', ageMs: LIMITS.writerLeaseMs - 600, retryAfterMs: 600 },
    { age: 'about to run out of its lease', ageMs: LIMITS.writerLeaseMs - 1, retryAfterMs: 250 },
  ])(
    'answers busy until the end of the lease (at most 5 s), adding no work, to a resend while the first attempt is in flight ($age)',
    async ({ ageMs, retryAfterMs }) => {
      // Prepare
      givenClaimExists(liveClaim(ageMs));
      const handler = createSendHandler(makeDeps());

      // Act
      const reply = replyOf(await handler(sendEvent(rawFrame())));

      // Assess
      expect(reply).toEqual({
        type: 'error',
        requestId: 'r-1',
        code: 'busy',
        message: expect.any(String),
        retryable: true,
        retryAfterMs,
      });
      // Not even the release of a claim that is not this attempt's.
      expect(awsCalls()).toEqual(['UpdateCommand', 'PutCommand']);
    },
  );

  it('takes over a claim whose lease ran out, then stores the message as usual', async () => {
    // Prepare
    givenClaimExists(liveClaim(LIMITS.writerLeaseMs + 1));

    // Act
    const ack = await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ack).toEqual({ conversationId: 'c1', seq: 42, sentAt: NOW.toISOString(), duplicate: false });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 2, {
      TableName: TABLE_NAMES.idempotency,
      Key: { idempotencyKey: KEY },
      UpdateExpression: 'SET claimToken = :token, claimedAt = :now',
      ConditionExpression: 'claimToken = :stale AND attribute_not_exists(seq)',
      ExpressionAttributeValues: { ':token': CLAIM_TOKEN, ':now': NOW.getTime(), ':stale': 'first-attempt' },
    });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 3, COUNTER);
    expect(awsCalls()).toEqual([
      'UpdateCommand',
      'PutCommand',
      'UpdateCommand',
      'UpdateCommand',
      'TransactWriteCommand',
      'SendMessageCommand',
    ]);
  });

  it('answers busy, reserving nothing, when another resend took the stale claim over first', async () => {
    // Prepare
    givenClaimExists(liveClaim(LIMITS.writerLeaseMs + 1));
    ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.idempotency }).rejects(conditionFailed());

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toMatchObject({ code: 'busy', retryable: true, retryAfterMs: 250 });
    expectNoReservation();
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });
});

describe('send: commit outcomes', () => {
  it('reserves again and stores under the next seq when a reader filled the reserved slot', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejectsOnce(cancelled('ConditionalCheckFailed', 'None')).resolves({});

    // Act
    const ack = await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ack).toMatchObject({ seq: 43, duplicate: false });
    expect(ddbMock.commandCalls(UpdateCommand, COUNTER)).toHaveLength(2);
    const seqs = ddbMock
      .commandCalls(TransactWriteCommand)
      .map((call) => call.args[0].input.TransactItems?.[0]?.Put?.Item?.seq);
    expect(seqs).toEqual([42, 43]);
    expect(ddbMock).toHaveReceivedNthCommandWith(TransactWriteCommand, 2, {
      TransactItems: [
        expect.objectContaining({
          Put: expect.objectContaining({ Item: { ...messageAt(43), clientMessageId: 'm-1' } }),
        }),
        expect.objectContaining({
          Update: expect.objectContaining({
            ExpressionAttributeValues: { ':seq': 43, ':sentAt': NOW.toISOString(), ':token': CLAIM_TOKEN },
          }),
        }),
      ],
    });
    // The reader's tombstone is in the first slot already: the writer adds none.
    expect(ddbMock).not.toHaveReceivedCommandWith(PutCommand, { TableName: TABLE_NAMES.messages });
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      MessageDeduplicationId: 'c1:43',
    });
  });

  it('gives up with busy, and gives the claim back, after three reservations lost to readers', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(cancelled('ConditionalCheckFailed', 'None'));

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toMatchObject({
      code: 'busy',
      retryable: true,
      retryAfterMs: THROTTLED_RETRY_MS,
    });
    expect(ddbMock.commandCalls(UpdateCommand, COUNTER)).toHaveLength(3);
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 3);
    expectClaimReleased();
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('fills its own seq with a tombstone and answers busy when a later attempt took the claim over', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(cancelled('None', 'ConditionalCheckFailed'));

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toMatchObject({ code: 'busy', retryable: true, retryAfterMs: 250 });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE_NAMES.messages,
      Item: { conversationId: 'c1', seq: 42, tombstone: true, sentAt: NOW.toISOString() },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
    expect(ddbMock.commandCalls(UpdateCommand, COUNTER)).toHaveLength(1);
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('counts the tombstone it fills in its own seq, and only one it wrote', async () => {
    // Prepare: the first commit lost its claim; the second send's seq was filled by a reader first.
    ddbMock.on(TransactWriteCommand).rejects(cancelled('None', 'ConditionalCheckFailed'));
    const deps = makeDeps();

    // Act
    await expect(sendMessage(deps, frame(), caller())).rejects.toMatchObject({ code: 'busy' });
    ddbMock.on(PutCommand, { TableName: TABLE_NAMES.messages }).rejects(conditionFailed());
    await expect(sendMessage(deps, frame(), caller())).rejects.toMatchObject({ code: 'busy' });

    // Assess
    expect(deps.metrics.record).toHaveBeenCalledTimes(1);
    expect(deps.metrics.record).toHaveBeenCalledWith('tombstonesFilled');
  });

  it('retries the same commit, under the same seq, after a transaction conflict', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejectsOnce(cancelled('TransactionConflict', 'None')).resolves({});

    // Act
    const ack = await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ack).toMatchObject({ seq: 42, duplicate: false });
    expect(ddbMock.commandCalls(UpdateCommand, COUNTER)).toHaveLength(1);
    const [first, second] = ddbMock.commandCalls(TransactWriteCommand).map((call) => call.args[0].input);
    expect(second).toEqual(first);
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 2);
  });

  it.each(['ThrottlingError', 'ProvisionedThroughputExceeded'])(
    'answers busy and fills its own seq with a tombstone when DynamoDB throttles the commit (%s)',
    async (code) => {
      // Prepare
      ddbMock.on(TransactWriteCommand).rejects(cancelled(code, 'None'));

      // Act
      const sending = sendMessage(makeDeps(), frame(), caller());

      // Assess
      await expect(sending).rejects.toMatchObject({ code: 'busy', retryAfterMs: THROTTLED_RETRY_MS });
      expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
      expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
        TableName: TABLE_NAMES.messages,
        Item: expect.objectContaining({ seq: 42, tombstone: true }),
      });
    },
  );

  it('fills its seq with a tombstone and answers busy after three conflicting commits', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(cancelled('None', 'TransactionConflict'));

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toMatchObject({
      code: 'busy',
      retryable: true,
      retryAfterMs: THROTTLED_RETRY_MS,
    });
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 3);
    expect(ddbMock.commandCalls(UpdateCommand, COUNTER)).toHaveLength(1);
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE_NAMES.messages,
      Item: { conversationId: 'c1', seq: 42, tombstone: true, sentAt: NOW.toISOString() },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
    expectClaimReleased();
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });
});

describe('send: time budget', () => {
  it('answers busy before any AWS call when no place in this environment comes free in its budget', async () => {
    // Prepare: the only place is taken, and the frame has 10 ms to wait for one.
    const admission = new AdmissionGate({ maxInFlight: 1 });
    await admission.enter(0);
    const handler = createSendHandler({ ...makeDeps(), admission });
    const remaining = REPLY_MARGIN_MS + MIN_SEND_BUDGET_MS + 10;

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame()), lambdaContext(remaining)));

    // Assess
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'busy', retryable: true });
    expect(reply.retryAfterMs).toBeGreaterThanOrEqual(250);
    expect(awsCalls()).toEqual([]);
  });

  it('answers busy, reserving nothing and giving the claim back, with less than the minimum budget left', async () => {
    // Prepare
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(
      await handler(sendEvent(rawFrame()), lambdaContext(REPLY_MARGIN_MS + MIN_SEND_BUDGET_MS - 1)),
    );

    // Assess
    expect(reply).toEqual({
      type: 'error',
      requestId: 'r-1',
      code: 'busy',
      message: expect.any(String),
      retryable: true,
      retryAfterMs: MIN_SEND_BUDGET_MS,
    });
    expectNoReservation();
    expectClaimReleased();
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('stores the message with exactly the minimum budget left', async () => {
    // Prepare
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(
      await handler(sendEvent(rawFrame()), lambdaContext(REPLY_MARGIN_MS + MIN_SEND_BUDGET_MS)),
    );

    // Assess
    expect(reply).toMatchObject({ type: 'ack', requestId: 'r-1', seq: 42 });
  });

  it('reserves no second seq when the first reservation left too little time', async () => {
    // Prepare: the lost commit takes the clock past the point where a new reservation could be stored.
    let clock = NOW.getTime();
    const deadline = NOW.getTime() + MIN_SEND_BUDGET_MS + 2_000;
    ddbMock.on(TransactWriteCommand).callsFake(() => {
      clock = deadline - MIN_SEND_BUDGET_MS + 1;
      throw cancelled('ConditionalCheckFailed', 'None');
    });

    // Act
    const sending = sendMessage(makeDeps({ now: () => new Date(clock) }), frame(), caller({ deadline }));

    // Assess
    await expect(sending).rejects.toMatchObject({ code: 'busy', retryAfterMs: MIN_SEND_BUDGET_MS });
    expect(ddbMock.commandCalls(UpdateCommand, COUNTER)).toHaveLength(1);
    expectClaimReleased();
  });

  it('answers busy with the requestId itself once the deadline and its cleanup margin pass with the send still running', async () => {
    // Prepare
    vi.useFakeTimers();
    ddbMock.on(UpdateCommand, COUNTER).callsFake(() => new Promise(() => {}));
    const handler = createSendHandler(makeDeps());
    const remainingMs = REPLY_MARGIN_MS + MIN_SEND_BUDGET_MS + 2_000;
    let settled = false;

    // Act
    const replying = handler(sendEvent(rawFrame()), lambdaContext(remainingMs)).finally(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(remainingMs - REPLY_MARGIN_MS / 2 - 1);
    const settledBeforeDeadline = settled;
    await vi.advanceTimersByTimeAsync(1);

    // Assess
    expect(settledBeforeDeadline).toBe(false);
    expect(replyOf(await replying)).toEqual({
      type: 'error',
      requestId: 'r-1',
      code: 'busy',
      message: expect.any(String),
      retryable: true,
      retryAfterMs: OUT_OF_TIME_RETRY_MS,
    });
  });

  it('aborts the AWS call in flight at the deadline and gives the claim back before it answers', async () => {
    // Prepare: like the SDK, the reservation rejects with an AbortError once its signal is aborted.
    vi.useFakeTimers();
    let reservationSignal: AbortSignal | undefined;
    ddbMock.on(UpdateCommand, COUNTER).callsFake(
      () =>
        new Promise((_, reject) => {
          reservationSignal = lastDdbOptions()?.abortSignal;
          reservationSignal?.addEventListener('abort', () => reject(awsError('AbortError')));
        }),
    );
    const handler = createSendHandler(makeDeps());

    // Act
    const budgetMs = MIN_SEND_BUDGET_MS + 2_000;
    const replying = handler(sendEvent(rawFrame()), lambdaContext(REPLY_MARGIN_MS + budgetMs));
    await vi.advanceTimersByTimeAsync(budgetMs);
    const reply = replyOf(await replying);

    // Assess: on Lambda nothing runs after the reply, so the release must come first.
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'busy' });
    expect(reservationSignal?.aborted).toBe(true);
    expectClaimReleased();
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it.each(['AbortError', 'InvocationStoppedError'])(
    'fills its reserved seq with a tombstone and gives the claim back when the commit runs out of time (%s)',
    async (name) => {
      // Prepare
      ddbMock.on(TransactWriteCommand).rejects(awsError(name));

      // Act
      const sending = sendMessage(makeDeps(), frame(), caller());

      // Assess
      await expect(sending).rejects.toMatchObject({ code: 'busy', retryAfterMs: OUT_OF_TIME_RETRY_MS });
      expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
        TableName: TABLE_NAMES.messages,
        Item: { conversationId: 'c1', seq: 42, tombstone: true, sentAt: NOW.toISOString() },
        ConditionExpression: 'attribute_not_exists(conversationId)',
      });
      expectClaimReleased();
      expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
    },
  );

  it('stops the commit when the deadline signal fires, then fills its seq before answering', async () => {
    // Prepare: like the SDK, the commit rejects with an AbortError once its signal is aborted.
    const outOfTime = new AbortController();
    ddbMock.on(TransactWriteCommand).callsFake(
      () =>
        new Promise((_, reject) => {
          lastDdbOptions()?.abortSignal?.addEventListener('abort', () => reject(awsError('AbortError')));
        }),
    );
    const sending = sendMessage(makeDeps(), frame(), caller({ signal: outOfTime.signal }));
    await vi.waitFor(() => expect(ddbMock).toHaveReceivedCommand(TransactWriteCommand));

    // Act
    outOfTime.abort();

    // Assess
    await expect(sending).rejects.toMatchObject({ code: 'busy' });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE_NAMES.messages,
      Item: expect.objectContaining({ seq: 42, tombstone: true }),
    });
    expectClaimReleased();
  });

  it('still answers busy when the commit ran out of time and its seq cannot be filled either', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(awsError('AbortError'));
    ddbMock.on(PutCommand, { TableName: TABLE_NAMES.messages }).rejects(new Error('socket hang up'));
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'busy' });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, { TableName: TABLE_NAMES.messages });
    expectClaimReleased();
  });

  it('passes the deadline signal to every call of the hot path', async () => {
    // Prepare
    const { signal } = new AbortController();

    // Act
    await sendMessage(makeDeps(), frame(), caller({ signal }));

    // Assess
    const signals = [...ddbMock.calls(), ...sqsMock.calls()].map((call) => {
      const args: unknown[] = call.args;
      return (args[1] as { abortSignal?: AbortSignal } | undefined)?.abortSignal;
    });
    expect(signals).toEqual([signal, signal, signal, signal, signal]);
  });
});

/** Each step of a send, how to make it fail, and what had happened by then. */
const STEPS: {
  step: string;
  fail: (err: Error) => void;
  claimed: boolean;
  stored: boolean;
}[] = [
  {
    step: 'the membership read',
    fail: (err) => ddbMock.on(UpdateCommand, MEMBER).rejects(err),
    claimed: false,
    stored: false,
  },
  {
    step: 'the claim',
    fail: (err) => ddbMock.on(PutCommand, { TableName: TABLE_NAMES.idempotency }).rejects(err),
    claimed: false,
    stored: false,
  },
  {
    step: 'the reservation',
    fail: (err) => ddbMock.on(UpdateCommand, COUNTER).rejects(err),
    claimed: true,
    stored: false,
  },
  {
    step: 'the commit',
    fail: (err) => ddbMock.on(TransactWriteCommand).rejects(err),
    claimed: true,
    stored: false,
  },
  {
    step: 'the enqueue',
    fail: (err) => sqsMock.on(SendMessageCommand).rejects(err),
    claimed: true,
    stored: true,
  },
];

describe('send: failures', () => {
  it.each(
    STEPS.flatMap((step) =>
      ['ProvisionedThroughputExceededException', 'ThrottlingException'].map((name) => ({ ...step, name })),
    ),
  )(
    'answers busy when $step is throttled ($name), giving back a claim that stored nothing',
    async ({ fail, name, claimed, stored }) => {
      // Prepare
      fail(awsError(name));
      const handler = createSendHandler(makeDeps());

      // Act
      const reply = replyOf(await handler(sendEvent(rawFrame())));

      // Assess
      expect(reply).toEqual({
        type: 'error',
        requestId: 'r-1',
        code: 'busy',
        message: expect.any(String),
        retryable: true,
        retryAfterMs: THROTTLED_RETRY_MS,
      });
      if (claimed && !stored) expectClaimReleased();
      else expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
    },
  );

  it.each(['ProvisionedThroughputExceededException', 'socket hang up'])(
    'fills its reserved seq with a tombstone at once when the commit fails (%s), so no reader waits a lease for it',
    async (name) => {
      // Prepare
      ddbMock.on(TransactWriteCommand).rejects(awsError(name));

      // Act
      await sendMessage(makeDeps(), frame(), caller()).catch(() => undefined);

      // Assess
      expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
        TableName: TABLE_NAMES.messages,
        Item: expect.objectContaining({ seq: 42, tombstone: true }),
        ConditionExpression: 'attribute_not_exists(conversationId)',
      });
    },
  );

  it.each(STEPS)(
    'answers a retryable internal_error with the requestId when $step fails unexpectedly',
    async ({ fail, claimed, stored }) => {
      // Prepare
      fail(new Error('socket hang up'));
      const handler = createSendHandler(makeDeps());

      // Act
      const reply = replyOf(await handler(sendEvent(rawFrame())));

      // Assess
      expect(reply).toEqual({
        type: 'error',
        requestId: 'r-1',
        code: 'internal_error',
        message: expect.not.stringContaining('socket'),
        retryable: true,
      });
      if (claimed && !stored) expectClaimReleased();
      else expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
    },
  );

  it('gives the claim back when the counter answers something that is not a seq', async () => {
    // Prepare
    ddbMock.on(UpdateCommand, COUNTER).resolves({ Attributes: {} });

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toThrow('not a number');
    expectClaimReleased();
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('still answers, with the cause of the failure, when the claim cannot be given back', async () => {
    // Prepare
    ddbMock.on(UpdateCommand, COUNTER).rejects(awsError('ThrottlingException'));
    ddbMock.on(DeleteCommand).rejects(new Error('socket hang up'));
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'busy' });
    expect(ddbMock).toHaveReceivedCommand(DeleteCommand);
  });
});

describe('send: logging', () => {
  it('tags its logs with the conversationId and seq', async () => {
    // Prepare
    const logger = silentLogger();
    const appendKeys = vi.spyOn(logger, 'appendKeys');

    // Act
    await sendMessage(makeDeps({ logger }), frame(), caller());

    // Assess
    expect(appendKeys).toHaveBeenCalledWith({ conversationId: 'c1' });
    expect(appendKeys).toHaveBeenCalledWith({ seq: 42 });
  });
});

describe('send: handler module', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('fails at cold start naming a missing queue variable', async () => {
    // Prepare
    vi.stubEnv('CONVERSATIONS_TABLE', 'c');
    vi.stubEnv('MESSAGES_TABLE', 'm');
    vi.stubEnv('IDEMPOTENCY_TABLE', 'i');
    vi.stubEnv('FANOUT_QUEUE_URL', '');

    // Act
    const loading = import('../../lambdas/send/handler.js');

    // Assess
    await expect(loading).rejects.toThrow('FANOUT_QUEUE_URL');
  });

  it('exports a handler when every variable is set', async () => {
    // Prepare
    vi.stubEnv('CONVERSATIONS_TABLE', 'c');
    vi.stubEnv('MESSAGES_TABLE', 'm');
    vi.stubEnv('IDEMPOTENCY_TABLE', 'i');
    vi.stubEnv('FANOUT_QUEUE_URL', QUEUE_URL);

    // Act
    const module = await import('../../lambdas/send/handler.js');

    // Assess
    expect(module.handler).toBeTypeOf('function');
  });
});
