/** The send function: its hot path of six requests (G1, G2), its logs and its handler module. */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSendHandler } from '../../lambdas/send/routes';
import { contentDigestOf, sendMessage } from '../../lambdas/send/send';
import { LIMITS } from '../../shared/limits';
import { encodeQueueBody } from '../../shared/queue-body';
import { SEND_INTERVAL_MS } from '../../shared/store/conversations';
import { idempotencyKeyOf } from '../../shared/store/idempotency';
import { TTL_ATTRIBUTE } from '../../shared/tables';
import {
  awsCalls,
  CLAIM,
  CLAIM_TOKEN,
  COUNTER,
  caller,
  ddbMock,
  frame,
  KEY,
  MEMBER,
  MESSAGES,
  makeDeps,
  markInput,
  messageAt,
  NOW,
  QUEUE_URL,
  rawFrame,
  replyOf,
  sendEvent,
  silentLogger,
  sqsMock,
  TABLE_NAMES,
  useSendFunctionMocks,
} from './fakes/send-function';

useSendFunctionMocks();

describe('send: the hot path (G1, G2)', () => {
  it('stores, enqueues and acks a message with exactly six AWS calls, in that order', async () => {
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
      senderId: 'alice',
      duplicate: false,
    });
    expect(awsCalls()).toEqual([
      'UpdateCommand',
      'PutCommand',
      'UpdateCommand',
      'UpdateCommand',
      'PutCommand',
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

  it('marks the claim with the reserved seq, then stores the message there, each with one conditional write', async () => {
    // Act
    await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ddbMock.commandCalls(UpdateCommand, CLAIM)).toHaveLength(1);
    expect(ddbMock.commandCalls(PutCommand, MESSAGES)).toHaveLength(1);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, markInput(42));
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      ...MESSAGES,
      Item: { ...messageAt(42), clientMessageId: 'm-1' },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
    const [mark] = ddbMock.commandCalls(UpdateCommand, CLAIM);
    const [put] = ddbMock.commandCalls(PutCommand, MESSAGES);
    expect(mark?.calledBefore(put as never)).toBe(true);
  });

  it('marks the claim with the same random token it claimed with when no token maker is given', async () => {
    // Prepare
    const deps = makeDeps();
    delete deps.newClaimToken;

    // Act
    await sendMessage(deps, frame(), caller());
    await sendMessage(deps, frame({ clientMessageId: 'm-2' }), caller());

    // Assess
    const claimed = ddbMock
      .commandCalls(PutCommand, { TableName: TABLE_NAMES.idempotency })
      .map((call) => call.args[0].input.Item?.claimToken);
    const finished = ddbMock
      .commandCalls(UpdateCommand, { TableName: TABLE_NAMES.idempotency })
      .map((call) => call.args[0].input.ExpressionAttributeValues?.[':token']);
    expect(claimed).toEqual([
      expect.stringMatching(/^[0-9a-f-]{36}$/),
      expect.stringMatching(/^[0-9a-f-]{36}$/),
    ]);
    expect(claimed[0]).not.toBe(claimed[1]);
    expect(finished).toEqual(claimed);
  });

  it('enqueues on the conversation group, deduplicated by conversation and seq, as ASCII-only JSON, naming the sending connection', async () => {
    // Prepare
    const body = 'héllo 👋 \uFFFE\u0000 end';

    // Act
    await sendMessage(makeDeps(), frame({ body }), caller());

    // Assess
    const message = { ...messageAt(42, { body }), senderConnectionId: 'conn-alice' };
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
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      ...MESSAGES,
      Item: expect.objectContaining({ sentAt: storedAt }),
    });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, markInput(42, storedAt));
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
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 2);
    // The message is stored: the resend must find the marked claim and take the duplicate path.
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
  });

  it('never enqueues a message whose store failed', async () => {
    // Prepare
    ddbMock.on(PutCommand, MESSAGES).rejects(new Error('socket hang up'));

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toThrow('socket hang up');
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
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
  /** Every variable the stack gives the send function; the management endpoint closes flooding connections. */
  const ENVIRONMENT = {
    CONVERSATIONS_TABLE: 'c',
    MESSAGES_TABLE: 'm',
    IDEMPOTENCY_TABLE: 'i',
    CONNECTIONS_TABLE: 'co',
    FANOUT_QUEUE_URL: QUEUE_URL,
    WS_MANAGEMENT_ENDPOINT: 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod',
    ATTACHMENTS_BUCKET: 'a',
  };

  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it.each(['FANOUT_QUEUE_URL', 'WS_MANAGEMENT_ENDPOINT'])(
    'fails at cold start naming a missing %s',
    async (missing) => {
      // Prepare
      for (const [name, value] of Object.entries(ENVIRONMENT))
        vi.stubEnv(name, name === missing ? '' : value);

      // Act
      const loading = import('../../lambdas/send/handler.js');

      // Assess
      await expect(loading).rejects.toThrow(missing);
    },
  );

  it('exports a handler when every variable is set', async () => {
    // Prepare
    for (const [name, value] of Object.entries(ENVIRONMENT)) vi.stubEnv(name, value);

    // Act
    const module = await import('../../lambdas/send/handler.js');

    // Assess
    expect(module.handler).toBeTypeOf('function');
  });
});
