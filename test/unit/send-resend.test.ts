/** The send function: a resend is the same message (G3), and every outcome of the commit transaction. */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createSendHandler } from '../../lambdas/send/routes';
import { sendMessage } from '../../lambdas/send/send';
import { THROTTLED_RETRY_MS } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { encodeQueueBody } from '../../shared/queue-body';
import {
  awsCalls,
  CLAIM_TOKEN,
  COUNTER,
  caller,
  cancelled,
  conditionFailed,
  ddbMock,
  expectClaimReleased,
  expectNoReservation,
  finishedClaim,
  frame,
  givenClaimExists,
  KEY,
  liveClaim,
  makeDeps,
  messageAt,
  NOW,
  ORIGINAL_SENT_AT,
  QUEUE_URL,
  rawFrame,
  replyOf,
  sendEvent,
  sqsMock,
  TABLE_NAMES,
  useSendFunctionMocks,
} from './fakes/send-function';

useSendFunctionMocks();

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
      senderId: 'alice',
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
      MessageBody: encodeQueueBody({
        ...messageAt(7, { sentAt: ORIGINAL_SENT_AT }),
        senderConnectionId: 'conn-alice',
      }),
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
    expect(ack).toEqual({
      conversationId: 'c1',
      seq: 7,
      sentAt: ORIGINAL_SENT_AT,
      senderId: 'alice',
      duplicate: true,
    });
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
    expect(ack).toEqual({
      conversationId: 'c1',
      seq: 7,
      sentAt: ORIGINAL_SENT_AT,
      senderId: 'alice',
      duplicate: true,
    });
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
    expect(ack).toEqual({
      conversationId: 'c1',
      seq: 42,
      sentAt: NOW.toISOString(),
      senderId: 'alice',
      duplicate: false,
    });
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
