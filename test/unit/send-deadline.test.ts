/** The send function: its time budget, the deadline, and failures of the AWS calls. */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DeleteCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { MIN_SEND_BUDGET_MS } from '../../lambdas/send/deps';
import { createSendHandler } from '../../lambdas/send/routes';
import { sendMessage } from '../../lambdas/send/send';
import { AdmissionGate } from '../../shared/admission';
import { THROTTLED_RETRY_MS } from '../../shared/errors';
import { OUT_OF_TIME_RETRY_MS, REPLY_MARGIN_MS } from '../../shared/route-kit';
import {
  awsCalls,
  awsError,
  COUNTER,
  caller,
  cancelled,
  ddbMock,
  expectClaimReleased,
  expectNoReservation,
  frame,
  lambdaContext,
  lastDdbOptions,
  MEMBER,
  makeDeps,
  NOW,
  rawFrame,
  replyOf,
  sendEvent,
  sqsMock,
  TABLE_NAMES,
  useSendFunctionMocks,
} from './fakes/send-function';

useSendFunctionMocks();

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
