/** The send function: a resend is the same message (G3), and every outcome of marking the claim and storing. */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createSendHandler } from '../../lambdas/send/routes';
import { sendMessage } from '../../lambdas/send/send';
import { THROTTLED_RETRY_MS } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { encodeQueueBody } from '../../shared/queue-body';
import {
  awsCalls,
  CLAIM,
  CLAIM_TOKEN,
  COUNTER,
  caller,
  conditionFailed,
  ddbMock,
  expectClaimReleased,
  expectNoReservation,
  finishedClaim,
  frame,
  givenClaimExists,
  KEY,
  liveClaim,
  MESSAGES,
  makeDeps,
  markInput,
  messageAt,
  messagesPut,
  NOW,
  ORIGINAL_SENT_AT,
  QUEUE_URL,
  rawFrame,
  replyOf,
  sendEvent,
  sqsMock,
  TABLE_NAMES,
  tombstonesPut,
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
    expect(messagesPut()).toEqual([]);
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
    expect(messagesPut()).toEqual([]);
  });

  it('answers busy until the lease ends when the marked seq holds no message yet (its writer is storing it)', async () => {
    // Prepare: the first attempt marked its claim with seq 7 a second ago.
    givenClaimExists(finishedClaim(7, {}, new Date(NOW.getTime() - 1_000).toISOString()));
    ddbMock.on(GetCommand, { TableName: TABLE_NAMES.messages }).resolves({});

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toMatchObject({ code: 'busy', retryAfterMs: 5_000 });
    expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, CLAIM);
    expect(messagesPut()).toEqual([]);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('takes over a marked claim whose writer is gone, fills its seq and stores the message under a fresh one', async () => {
    // Prepare: seq 7 was marked long ago and still holds nothing.
    givenClaimExists(finishedClaim(7));
    ddbMock.on(GetCommand, { TableName: TABLE_NAMES.messages }).resolves({});

    // Act
    const ack = await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ack).toMatchObject({ seq: 42, duplicate: false });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      ...CLAIM,
      UpdateExpression: 'SET claimToken = :token, claimedAt = :now',
      ConditionExpression: 'claimToken = :stale AND seq = :seq',
      ExpressionAttributeValues: {
        ':token': CLAIM_TOKEN,
        ':now': NOW.getTime(),
        ':stale': 'first-attempt',
        ':seq': 7,
      },
    });
    expect(tombstonesPut()).toEqual([7]);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, markInput(42, NOW.toISOString(), 7));
    expect(messagesPut()).toEqual([42]);
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      MessageDeduplicationId: 'c1:42',
    });
  });

  it('answers the duplicate when the writer of a marked claim stored it just before the takeover filled its seq', async () => {
    // Prepare: seq 7 holds nothing at first, then the message (the fill finds the slot taken).
    givenClaimExists(finishedClaim(7));
    ddbMock
      .on(GetCommand, { TableName: TABLE_NAMES.messages })
      .resolvesOnce({})
      .resolves({ Item: { ...messageAt(7, { sentAt: ORIGINAL_SENT_AT }), clientMessageId: 'm-1' } });
    ddbMock.on(PutCommand, MESSAGES).rejects(conditionFailed());

    // Act
    const ack = await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ack).toMatchObject({ seq: 7, duplicate: true });
    expectNoReservation();
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      MessageDeduplicationId: 'c1:7',
    });
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
      'UpdateCommand',
      'PutCommand',
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
    expect(messagesPut()).toEqual([]);
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });
});

describe('send: outcomes of marking the claim and storing', () => {
  it('reserves again, moving the claim along, and stores under the next seq when a reader filled the reserved slot', async () => {
    // Prepare
    ddbMock.on(PutCommand, MESSAGES).rejectsOnce(conditionFailed()).resolves({});

    // Act
    const ack = await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ack).toMatchObject({ seq: 43, duplicate: false });
    expect(ddbMock.commandCalls(UpdateCommand, COUNTER)).toHaveLength(2);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, markInput(42));
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, markInput(43, NOW.toISOString(), 42));
    expect(messagesPut()).toEqual([42, 43]);
    // The reader's tombstone is in the first slot already: the writer adds none.
    expect(tombstonesPut()).toEqual([]);
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      MessageDeduplicationId: 'c1:43',
    });
  });

  it('gives up with busy, and gives the claim back, after three reservations lost to readers', async () => {
    // Prepare
    ddbMock.on(PutCommand, MESSAGES).rejects(conditionFailed());

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toMatchObject({
      code: 'busy',
      retryable: true,
      retryAfterMs: THROTTLED_RETRY_MS,
    });
    expect(ddbMock.commandCalls(UpdateCommand, COUNTER)).toHaveLength(3);
    expect(messagesPut()).toEqual([42, 43, 44]);
    expectClaimReleased();
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('fills its own seq with a tombstone and answers busy, storing nothing, when a later attempt took the claim over', async () => {
    // Prepare
    ddbMock.on(UpdateCommand, CLAIM).rejects(conditionFailed());

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toMatchObject({ code: 'busy', retryable: true, retryAfterMs: 250 });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      ...MESSAGES,
      Item: { conversationId: 'c1', seq: 42, tombstone: true, sentAt: NOW.toISOString() },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
    expect(messagesPut()).toEqual([]);
    expect(ddbMock.commandCalls(UpdateCommand, COUNTER)).toHaveLength(1);
    // Not this attempt's claim any more: nothing to give back.
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('counts the tombstone it fills in its own seq, and only one it wrote', async () => {
    // Prepare: the first send lost its claim; the second send's seq was filled by a reader first.
    ddbMock.on(UpdateCommand, CLAIM).rejects(conditionFailed());
    const deps = makeDeps();

    // Act
    await expect(sendMessage(deps, frame(), caller())).rejects.toMatchObject({ code: 'busy' });
    ddbMock.on(PutCommand, MESSAGES).rejects(conditionFailed());
    await expect(sendMessage(deps, frame(), caller())).rejects.toMatchObject({ code: 'busy' });

    // Assess
    expect(deps.metrics.record).toHaveBeenCalledTimes(1);
    expect(deps.metrics.record).toHaveBeenCalledWith('tombstonesFilled');
  });

  it.each(['ThrottlingException', 'ProvisionedThroughputExceededException'])(
    'answers busy, fills its own seq with a tombstone and gives the claim back when DynamoDB throttles the store (%s)',
    async (name) => {
      // Prepare: the message put is throttled; the fill that follows finds the slot empty.
      ddbMock
        .on(PutCommand, MESSAGES)
        .rejectsOnce(Object.assign(new Error('throttled'), { name }))
        .resolves({});

      // Act
      const sending = sendMessage(makeDeps(), frame(), caller());

      // Assess
      await expect(sending).rejects.toMatchObject({ code: 'busy' });
      expect(tombstonesPut()).toEqual([42]);
      expectClaimReleased();
      expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
    },
  );

  it('acks the message when its put failed but had landed (the fill finds it in the slot)', async () => {
    // Prepare
    ddbMock.on(PutCommand, MESSAGES).rejectsOnce(new Error('socket hang up')).rejects(conditionFailed());
    ddbMock
      .on(GetCommand, { TableName: TABLE_NAMES.messages })
      .resolves({ Item: { ...messageAt(42), clientMessageId: 'm-1' } });

    // Act
    const ack = await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ack).toMatchObject({ seq: 42, duplicate: false });
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      MessageDeduplicationId: 'c1:42',
    });
  });

  it('keeps the claim marked when it cannot tell whether its message landed', async () => {
    // Prepare: the put and the fill both fail.
    ddbMock.on(PutCommand, MESSAGES).rejects(new Error('socket hang up'));

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess: a resend finds the claim marked with 42 and the message, or its absence, there.
    await expect(sending).rejects.toThrow('socket hang up');
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
  });
});
