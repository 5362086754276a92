/** The send function: its time budget, the deadline, and failures of the AWS calls. */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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
  CLAIM,
  COUNTER,
  caller,
  conditionFailed,
  ddbMock,
  expectClaimReleased,
  expectNoReservation,
  frame,
  givenMessagePutFails,
  lambdaContext,
  lastDdbOptions,
  MEMBER,
  MESSAGES,
  makeDeps,
  messagesPut,
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
    // Prepare: the slot lost to a reader takes the clock past the point where a new reservation could be stored.
    let clock = NOW.getTime();
    const deadline = NOW.getTime() + MIN_SEND_BUDGET_MS + 2_000;
    givenMessagePutFails(() => {
      clock = deadline - MIN_SEND_BUDGET_MS + 1;
      throw conditionFailed();
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
    expect(messagesPut()).toEqual([]);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it.each(['AbortError', 'InvocationStoppedError'])(
    'fills its reserved seq with a tombstone and gives the claim back when the store runs out of time (%s)',
    async (name) => {
      // Prepare
      givenMessagePutFails(() => {
        throw awsError(name);
      });

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

  it('stops the store when the deadline signal fires, then fills its seq before answering', async () => {
    // Prepare: like the SDK, the message put rejects with an AbortError once its signal is aborted.
    const outOfTime = new AbortController();
    givenMessagePutFails(
      () =>
        new Promise((_, reject) => {
          lastDdbOptions()?.abortSignal?.addEventListener('abort', () => reject(awsError('AbortError')));
        }),
    );
    const sending = sendMessage(makeDeps(), frame(), caller({ signal: outOfTime.signal }));
    await vi.waitFor(() => expect(messagesPut()).toEqual([42]));

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

  it('still answers busy, keeping the claim marked, when the store ran out of time and its seq cannot be filled either', async () => {
    // Prepare
    ddbMock.on(PutCommand, MESSAGES).rejectsOnce(awsError('AbortError')).rejects(new Error('socket hang up'));
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame())));

    // Assess: whether the message landed is unknown, so the claim stays marked with 42 for a resend.
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'busy' });
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 3);
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
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
    expect(signals).toEqual([signal, signal, signal, signal, signal, signal]);
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
    step: 'the mark',
    fail: (err) => ddbMock.on(UpdateCommand, CLAIM).rejects(err),
    claimed: true,
    stored: false,
  },
  {
    step: 'the store',
    fail: (err) =>
      givenMessagePutFails(() => {
        throw err;
      }),
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
    'fills its reserved seq with a tombstone at once when the store fails (%s), so no reader waits a lease for it',
    async (name) => {
      // Prepare
      givenMessagePutFails(() => {
        throw awsError(name);
      });

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
    expect(messagesPut()).toEqual([]);
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
