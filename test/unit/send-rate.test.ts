/** The send function: the per-user send rate, and what non-members and bad input may write (nothing, G8). */

import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { createSendHandler } from '../../lambdas/send/routes';
import type { ErrorCode } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { SEND_INTERVAL_MS, SEND_TOLERANCE_MS } from '../../shared/store/conversations';
import { memberSk } from '../../shared/tables';
import {
  awsCalls,
  COUNTER,
  conditionFailed,
  ddbMock,
  expectClaimReleased,
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
      'UpdateCommand',
      'PutCommand',
      'SendMessageCommand',
    ]);
  });

  it('tries the in-use update first when this environment just saw the bucket in use, so a quick second send costs six calls', async () => {
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
      'UpdateCommand',
      'PutCommand',
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
    expect(ddbMock).not.toHaveReceivedCommandWith(PutCommand, { TableName: TABLE_NAMES.messages });
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
