import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  LimitExceededException,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { ROUTES } from '../../lib/wiring';
import { ENV } from '../../shared/env';
import {
  BusyError,
  ConnectionGoneError,
  InternalError,
  LimitExceededError,
  NotAMemberError,
  THROTTLED_RETRY_MS,
} from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { ACTIONS, type AckOf, type RequestOf, type SendAck, type SendFrame } from '../../shared/protocol';
import {
  type ActionRoute,
  type ActionRoutes,
  type Caller,
  CONNECTION_FRAME_RATE,
  createActionHandler,
  managementApiDisconnector,
  OUT_OF_TIME_RETRY_MS,
  REPLY_MARGIN_MS,
  routeKitOf,
  userIdOf,
} from '../../shared/route-kit';
import { type ConnectionEventOptions, routeEvent } from '../support/api-gateway';
import { KIT_NOW, routeKitDeps, routeKitFakes } from '../support/route-kit';

/** The event of `body`, a frame as the client sent it, on alice's connection conn-1 unless `options` say otherwise. */
const eventWith = (body: string, options: ConnectionEventOptions = {}) => routeEvent({ body, ...options });

/** The route most tests run: `unsubscribe`, acked with the conversationId of its frame. */
const echoConversation: ActionRoute<'unsubscribe'> = async (frame) => ({
  conversationId: frame.conversationId,
});

function handlerWith(run = vi.fn(echoConversation)) {
  return { run, handler: createActionHandler(routeKitDeps(), { unsubscribe: run }) };
}

const replyOf = (result: { body: string }) => JSON.parse(result.body) as Record<string, unknown>;

describe('createActionHandler', () => {
  it('acks a valid frame with the action, the requestId and the result', async () => {
    // Prepare
    const { handler, run } = handlerWith();
    // Act
    const result = await handler(
      eventWith(JSON.stringify({ action: 'unsubscribe', requestId: 'r1', conversationId: 'c1' })),
    );
    // Assess
    expect(result.statusCode).toBe(200);
    expect(replyOf(result)).toEqual({
      type: 'ack',
      action: 'unsubscribe',
      requestId: 'r1',
      conversationId: 'c1',
    });
    expect(run).toHaveBeenCalledWith(
      { action: 'unsubscribe', requestId: 'r1', conversationId: 'c1' },
      {
        userId: 'alice',
        connectionId: 'conn-1',
        awsRequestId: 'aws-req-1',
        deadline: expect.any(Number),
        signal: expect.any(AbortSignal),
      },
    );
  });

  it.each([
    ['malformed JSON', '{"action": "unsubscribe",', 'invalid_json'],
    ['a JSON array', '[1,2]', 'invalid_json'],
    ['a JSON string', '"unsubscribe"', 'invalid_json'],
    ['an unknown action', '{"action":"dance","requestId":"r9"}', 'unknown_action'],
    ['a missing action', '{"conversationId":"c1"}', 'unknown_action'],
    ['an inherited property name as action', '{"action":"toString"}', 'unknown_action'],
    ['a wrong-typed field', '{"action":"unsubscribe","conversationId":42}', 'invalid_request'],
    ['an unexpected field', '{"action":"unsubscribe","conversationId":"c1","admin":true}', 'invalid_request'],
  ])('refuses %s with %s and never runs the action', async (_case, body, code) => {
    // Prepare
    const { handler, run } = handlerWith();
    // Act
    const reply = replyOf(await handler(eventWith(body)));
    // Assess
    expect(reply).toMatchObject({ type: 'error', code, retryable: false });
    expect(typeof reply.message).toBe('string');
    expect(run).not.toHaveBeenCalled();
  });

  it('echoes the requestId on an error so the client can match it', async () => {
    const { handler } = handlerWith();
    const reply = replyOf(
      await handler(eventWith('{"action":"unsubscribe","requestId":"r7","conversationId":1}')),
    );
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request', requestId: 'r7' });
    expect(reply.message).toContain('conversationId');
  });

  it('refuses a frame over the 32 KB frame limit before parsing it', async () => {
    const { handler, run } = handlerWith();
    const body = JSON.stringify({ action: 'unsubscribe', conversationId: 'x'.repeat(LIMITS.maxFrameBytes) });
    const reply = replyOf(await handler(eventWith(body)));
    expect(reply).toMatchObject({ type: 'error', code: 'payload_too_large' });
    expect(run).not.toHaveBeenCalled();
  });

  it('refuses a frame without an authorizer identity', async () => {
    const { handler, run } = handlerWith();
    const reply = replyOf(
      await handler(eventWith('{"action":"unsubscribe","conversationId":"c1"}', { authorizer: null })),
    );
    expect(reply).toMatchObject({ type: 'error', code: 'unauthorized' });
    expect(run).not.toHaveBeenCalled();
  });

  it('maps a domain error to its code and an unexpected error to a retryable internal_error', async () => {
    const failing = vi
      .fn()
      .mockRejectedValueOnce(new NotAMemberError('c1'))
      .mockRejectedValueOnce(new Error('socket hang up with secret details'));
    const { handler } = handlerWith(failing);
    const frame = JSON.stringify({ action: 'unsubscribe', conversationId: 'c1' });

    const forbidden = replyOf(await handler(eventWith(frame)));
    const internal = replyOf(await handler(eventWith(frame)));

    expect(forbidden).toMatchObject({ code: 'forbidden', retryable: false });
    expect(internal).toMatchObject({
      code: 'internal_error',
      retryable: true,
      message: new InternalError().message,
    });
    expect(JSON.stringify(internal)).not.toContain('secret');
  });

  it.each([
    ['a refused limit', new LimitExceededError('At most 100 members'), 'limit_exceeded', false],
    ['a closed connection', new ConnectionGoneError('conn-1'), 'connection_gone', true],
  ])('answers %s with %s and says whether resending can help', async (_case, error, code, retryable) => {
    // Prepare
    const { handler } = handlerWith(vi.fn().mockRejectedValue(error));
    // Act
    const reply = replyOf(
      await handler(eventWith('{"action":"unsubscribe","requestId":"r2","conversationId":"c1"}')),
    );
    // Assess
    expect(reply).toEqual({ type: 'error', requestId: 'r2', code, message: error.message, retryable });
  });
});

describe('createActionHandler deadline', () => {
  const frame = JSON.stringify({ action: 'unsubscribe', requestId: 'r5', conversationId: 'c1' });
  /** A Lambda context with this much time left. */
  const remaining = (ms: number) => ({ getRemainingTimeInMillis: () => ms });

  /** A route that records its caller and answers only when `answer` is called, if ever. */
  function pendingRoute() {
    const callers: Caller[] = [];
    let answer: () => void = () => {};
    const run = vi.fn(
      (_frame: unknown, caller: Caller) =>
        new Promise<{ conversationId: string }>((resolve) => {
          callers.push(caller);
          answer = () => resolve({ conversationId: 'late' });
        }),
    );
    const handler = createActionHandler(routeKitDeps(), { unsubscribe: run });
    return { handler, callers, answer: () => answer() };
  }

  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    ['the Lambda context', remaining(5_000), KIT_NOW + 5_000 - REPLY_MARGIN_MS],
    ["API Gateway's 29 s without a context", undefined, KIT_NOW + 29_000 - REPLY_MARGIN_MS],
  ])(
    'gives the route a deadline from %s, less the reply margin, and a live signal',
    async (_case, context, deadline) => {
      // Prepare
      const run = vi.fn(async (_frame: unknown, _caller: Caller) => ({ conversationId: 'c1' }));
      const handler = createActionHandler(routeKitDeps(), { unsubscribe: run });

      // Act
      await handler(eventWith(frame), context);

      // Assess
      const caller = run.mock.calls[0]?.[1];
      expect(caller?.deadline).toBe(deadline);
      expect(caller?.signal.aborted).toBe(false);
    },
  );

  it('aborts its signal at the deadline and answers busy, retryable, with the requestId after half the margin for cleanup', async () => {
    // Prepare: 1.1 s left, so the route has 100 ms, then 500 ms to settle once aborted.
    vi.useFakeTimers();
    const { handler, callers } = pendingRoute();
    let answered = false;

    // Act
    const result = handler(eventWith(frame), remaining(1_100)).finally(() => {
      answered = true;
    });
    await vi.advanceTimersByTimeAsync(99);
    const abortedBefore = callers[0]?.signal.aborted;
    await vi.advanceTimersByTimeAsync(1);
    const abortedAtDeadline = callers[0]?.signal.aborted;
    await vi.advanceTimersByTimeAsync(REPLY_MARGIN_MS / 2 - 1);
    const answeredBeforeGrace = answered;
    await vi.advanceTimersByTimeAsync(1);

    // Assess
    expect(abortedBefore).toBe(false);
    expect(abortedAtDeadline).toBe(true);
    expect(answeredBeforeGrace).toBe(false);
    expect(answered).toBe(true);
    expect(replyOf(await result)).toEqual({
      type: 'error',
      requestId: 'r5',
      code: 'busy',
      message: expect.any(String),
      retryable: true,
      retryAfterMs: OUT_OF_TIME_RETRY_MS,
    });
    expect(callers[0]?.signal.aborted).toBe(true);
  });

  it('still acks a route that answers while it settles after its deadline', async () => {
    // Prepare
    vi.useFakeTimers();
    const { handler, answer } = pendingRoute();

    // Act
    const result = handler(eventWith(frame), remaining(1_100));
    await vi.advanceTimersByTimeAsync(300);
    answer();
    const reply = replyOf(await result);

    // Assess
    expect(reply).toMatchObject({ type: 'ack', requestId: 'r5' });
  });

  it('acks a route that answers before its deadline and leaves no timer behind to answer busy later', async () => {
    // Prepare
    vi.useFakeTimers();
    const { handler, callers, answer } = pendingRoute();

    // Act
    const result = handler(eventWith(frame), remaining(1_100));
    await vi.advanceTimersByTimeAsync(50);
    answer();
    const reply = replyOf(await result);

    // Assess
    expect(reply).toEqual({ type: 'ack', action: 'unsubscribe', requestId: 'r5', conversationId: 'late' });
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(callers[0]?.signal.aborted).toBe(false);
  });

  it('leaves no timer behind when it refuses a frame', async () => {
    // Prepare
    vi.useFakeTimers();
    const { handler } = pendingRoute();

    // Act
    const reply = replyOf(await handler(eventWith('{"action":"unsubscribe",'), remaining(1_100)));

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_json' });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('tells the client when to resend when the error says so', async () => {
    // Prepare
    const handler = createActionHandler(routeKitDeps(), {
      unsubscribe: vi.fn().mockRejectedValue(new BusyError('Throttled', 250)),
    });

    // Act
    const reply = replyOf(await handler(eventWith(frame)));

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'busy',
      requestId: 'r5',
      retryable: true,
      retryAfterMs: 250,
    });
  });
});

describe('createActionHandler logging', () => {
  function loggedHandler(run: ActionRoute<'unsubscribe'>) {
    const deps = routeKitDeps();
    const { logger } = deps;
    const warn = vi.spyOn(logger, 'warn');
    const error = vi.spyOn(logger, 'error');
    const appendKeys = vi.spyOn(logger, 'appendKeys');
    const removeKeys = vi.spyOn(logger, 'removeKeys');
    const handler = createActionHandler(deps, { unsubscribe: run });
    return { handler, warn, error, appendKeys, removeKeys };
  }

  it('logs every refusal with its code (G8) and an unexpected failure as an error', async () => {
    // Prepare
    const { handler, warn, error } = loggedHandler(vi.fn().mockRejectedValue(new Error('boom')));
    // Act
    await handler(eventWith('{"action":"unsubscribe",'));
    await handler(eventWith('{"action":"unsubscribe","conversationId":"c1"}'));
    // Assess
    expect(warn).toHaveBeenCalledWith('Request refused', expect.objectContaining({ code: 'invalid_json' }));
    expect(error).toHaveBeenCalledWith(
      'Request failed',
      expect.objectContaining({ error: expect.any(Error) }),
    );
  });

  it("tags the request's logs with its conversationId and clears it afterwards", async () => {
    // Prepare
    const { handler, appendKeys, removeKeys } = loggedHandler(echoConversation);
    // Act
    await handler(eventWith('{"action":"unsubscribe","conversationId":"c1"}'));
    // Assess
    expect(appendKeys).toHaveBeenCalledWith({ conversationId: 'c1' });
    expect(removeKeys).toHaveBeenLastCalledWith(expect.arrayContaining(['conversationId', 'seq']));
  });
});

describe('userIdOf', () => {
  it('prefers the userId context and falls back to principalId', () => {
    expect(userIdOf(routeEvent({ authorizer: { principalId: 'p', userId: 'u' } }))).toBe('u');
    expect(userIdOf(routeEvent({ authorizer: { principalId: 'p' } }))).toBe('p');
  });
});

describe('createActionHandler per-connection frame rate', () => {
  const frameOf = (n: number) =>
    JSON.stringify({ action: 'unsubscribe', requestId: `r${n}`, conversationId: 'c1' });

  it('answers rate_limited, with retryAfterMs and without running the route, past the burst of one connection', async () => {
    // Prepare
    let now = 1_000_000;
    const run = vi.fn(echoConversation);
    const handler = createActionHandler(
      routeKitDeps({ clock: () => now, frameRate: { ratePerSecond: 10, burst: 3 } }),
      { unsubscribe: run },
    );

    // Act
    const replies = [];
    for (let n = 1; n <= 4; n++) replies.push(replyOf(await handler(eventWith(frameOf(n)))));
    now += 100;
    const afterOneInterval = replyOf(await handler(eventWith(frameOf(5))));

    // Assess
    expect(replies.slice(0, 3).map((reply) => reply.type)).toEqual(['ack', 'ack', 'ack']);
    expect(replies[3]).toEqual({
      type: 'error',
      requestId: 'r4',
      code: 'rate_limited',
      message: expect.any(String),
      retryable: true,
      retryAfterMs: 100,
    });
    expect(afterOneInterval.type).toBe('ack');
    expect(run).toHaveBeenCalledTimes(4);
  });

  it('counts each connection on its own', async () => {
    // Prepare
    const run = vi.fn(echoConversation);
    const handler = createActionHandler(
      routeKitDeps({ clock: () => 0, frameRate: { ratePerSecond: 1, burst: 1 } }),
      { unsubscribe: run },
    );
    const other = eventWith(frameOf(2), { connectionId: 'conn-2' });

    // Act
    const first = replyOf(await handler(eventWith(frameOf(1))));
    const second = replyOf(await handler(other));
    const third = replyOf(await handler(eventWith(frameOf(3))));

    // Assess
    expect([first.type, second.type, third.code]).toEqual(['ack', 'ack', 'rate_limited']);
  });

  it('counts frames that do not parse, so malformed frames cannot pass the cap', async () => {
    // Prepare
    const run = vi.fn(echoConversation);
    const handler = createActionHandler(
      routeKitDeps({ clock: () => 0, frameRate: { ratePerSecond: 1, burst: 2 } }),
      { unsubscribe: run },
    );

    // Act
    const malformed = [
      replyOf(await handler(eventWith('{"action":'))),
      replyOf(await handler(eventWith('not json'))),
    ];
    const valid = replyOf(await handler(eventWith(frameOf(3))));

    // Assess
    expect(malformed.map((reply) => reply.code)).toEqual(['invalid_json', 'invalid_json']);
    expect(valid).toMatchObject({ code: 'rate_limited', requestId: 'r3', retryAfterMs: 1_000 });
    expect(run).not.toHaveBeenCalled();
  });
});

describe('createActionHandler closing a connection that keeps sending while refused', () => {
  const ENDPOINT = 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod';
  const management = mockClient(ApiGatewayManagementApiClient);
  const frameOf = (n: number) =>
    JSON.stringify({ action: 'unsubscribe', requestId: `r${n}`, conversationId: 'c1' });

  /** A burst of 2 and a close at the 3rd refusal, through the management API at ENDPOINT. */
  function floodedHandler() {
    const deps = routeKitDeps({
      clock: () => 0,
      frameRate: { ratePerSecond: 1, burst: 2, closeAfterRefused: 3 },
      disconnect: managementApiDisconnector(ENDPOINT),
    });
    const warn = vi.spyOn(deps.logger, 'warn');
    const error = vi.spyOn(deps.logger, 'error');
    const handler = createActionHandler(deps, { unsubscribe: echoConversation });
    return { handler, warn, error };
  }

  afterEach(() => {
    management.reset();
    vi.unstubAllEnvs();
  });

  it('makes no management call below the threshold, then one DeleteConnection of the connection at the stage endpoint', async () => {
    // Prepare
    management.on(DeleteConnectionCommand).resolves({});
    const { handler, warn } = floodedHandler();

    // Act
    const belowThreshold = [];
    for (let n = 1; n <= 4; n++) belowThreshold.push(replyOf(await handler(eventWith(frameOf(n)))));
    const callsBelowThreshold = management.calls().length;
    const atThreshold = replyOf(await handler(eventWith(frameOf(5))));
    const afterClose = [];
    for (let n = 6; n <= 8; n++) afterClose.push(replyOf(await handler(eventWith(frameOf(n)))));

    // Assess
    expect(belowThreshold.map((reply) => reply.type)).toEqual(['ack', 'ack', 'error', 'error']);
    expect(callsBelowThreshold).toBe(0);
    expect(atThreshold).toMatchObject({
      code: 'rate_limited',
      requestId: 'r5',
      retryAfterMs: expect.any(Number),
    });
    expect(afterClose.map((reply) => reply.code)).toEqual(['rate_limited', 'rate_limited', 'rate_limited']);
    expect(management).toReceiveCommandTimes(DeleteConnectionCommand, 1);
    expect(management).toReceiveCommandWith(DeleteConnectionCommand, { ConnectionId: 'conn-1' });
    const client = management.call(0).thisValue as ApiGatewayManagementApiClient;
    const endpoint = await client.config.endpoint?.();
    expect(`${endpoint?.protocol}//${endpoint?.hostname}${endpoint?.path}`).toBe(ENDPOINT);
    expect(warn).toHaveBeenCalledWith(
      'Closing a connection that kept sending while refused',
      expect.objectContaining({ connectionId: 'conn-1' }),
    );
  });

  it('still answers rate_limited when DeleteConnection fails, and logs the failure', async () => {
    // Prepare
    management
      .on(DeleteConnectionCommand)
      .rejects(new LimitExceededException({ message: 'slow down', $metadata: { httpStatusCode: 429 } }));
    const { handler, error } = floodedHandler();
    for (let n = 1; n <= 4; n++) await handler(eventWith(frameOf(n)));

    // Act
    const reply = replyOf(await handler(eventWith(frameOf(5))));

    // Assess
    expect(management).toReceiveCommandTimes(DeleteConnectionCommand, 1);
    expect(reply).toEqual({
      type: 'error',
      requestId: 'r5',
      code: 'rate_limited',
      message: expect.any(String),
      retryable: true,
      retryAfterMs: expect.any(Number),
    });
    expect(error).toHaveBeenCalledWith(
      'Could not close a connection that kept sending while refused',
      expect.objectContaining({ connectionId: 'conn-1', error: expect.any(LimitExceededException) }),
    );
  });

  it('managementApiDisconnector deletes the connection at the endpoint it is given, whatever the environment says', async () => {
    // Prepare
    vi.stubEnv(ENV.managementEndpoint, 'https://elsewhere.example.com/prod');
    management.on(DeleteConnectionCommand).resolves({});
    const endpoint = 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod';

    // Act
    await managementApiDisconnector(endpoint)('conn-9');

    // Assess
    expect(management).toReceiveCommandWith(DeleteConnectionCommand, { ConnectionId: 'conn-9' });
    const client = management.call(0).thisValue as ApiGatewayManagementApiClient;
    const url = await client.config.endpoint?.();
    expect(`${url?.protocol}//${url?.hostname}${url?.path}`).toBe(endpoint);
  });
});

/** An AWS SDK error as the SDK throws it: what the error policy reads is its name. */
const awsError = (name: string) => Object.assign(new Error(`${name} from the SDK`), { name });

const THROTTLING_NAMES = [
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'TransactionConflictException',
  'SlowDown',
];

/** A DynamoDB transaction cancelled with these per-item reasons, as the SDK throws it. */
const cancelledTransaction = (...codes: string[]) =>
  Object.assign(awsError('TransactionCanceledException'), {
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

describe('createActionHandler error policy', () => {
  it.each(THROTTLING_NAMES)(
    'answers a route whose core throws %s busy with retryAfterMs, not internal_error',
    async (name) => {
      // Prepare
      const { handler } = handlerWith(vi.fn().mockRejectedValue(awsError(name)));
      // Act
      const reply = replyOf(
        await handler(eventWith('{"action":"unsubscribe","requestId":"r3","conversationId":"c1"}')),
      );
      // Assess
      expect(reply).toEqual({
        type: 'error',
        requestId: 'r3',
        code: 'busy',
        message: expect.any(String),
        retryable: true,
        retryAfterMs: THROTTLED_RETRY_MS,
      });
    },
  );

  it.each([
    'ThrottlingError',
    'ProvisionedThroughputExceeded',
    'RequestLimitExceeded',
    'TransactionConflict',
  ])(
    'answers a route whose transaction was cancelled for %s busy with retryAfterMs, not internal_error',
    async (code) => {
      // Prepare
      const { handler } = handlerWith(vi.fn().mockRejectedValue(cancelledTransaction('None', code)));
      // Act
      const reply = replyOf(await handler(eventWith('{"action":"unsubscribe","conversationId":"c1"}')));
      // Assess
      expect(reply).toMatchObject({ code: 'busy', retryable: true, retryAfterMs: THROTTLED_RETRY_MS });
    },
  );

  it('answers a transaction refused by a condition as the route decides, internal_error when it does not', async () => {
    // Prepare
    const { handler } = handlerWith(
      vi.fn().mockRejectedValue(cancelledTransaction('ConditionalCheckFailed')),
    );
    // Act
    const reply = replyOf(await handler(eventWith('{"action":"unsubscribe","conversationId":"c1"}')));
    // Assess
    expect(reply).toMatchObject({ code: 'internal_error' });
  });

  it.each(['AbortError', 'InvocationStoppedError'])(
    'answers a route whose call was stopped with %s busy with the out-of-time retryAfterMs',
    async (name) => {
      // Prepare
      const { handler } = handlerWith(vi.fn().mockRejectedValue(awsError(name)));
      // Act
      const reply = replyOf(await handler(eventWith('{"action":"unsubscribe","conversationId":"c1"}')));
      // Assess
      expect(reply).toMatchObject({ code: 'busy', retryable: true, retryAfterMs: OUT_OF_TIME_RETRY_MS });
    },
  );
});

describe('createActionHandler typed from the action table', () => {
  const depsWith = routeKitDeps;

  const unsubscribeFrame = (requestId = 'r1') =>
    JSON.stringify({ action: 'unsubscribe', requestId, conversationId: 'c1' });

  it('validates a frame against its action in the action table and acks with what the route returns', async () => {
    // Prepare
    const unsubscribe = vi.fn(async (frame: RequestOf<'unsubscribe'>) => ({
      conversationId: frame.conversationId,
    }));
    const handler = createActionHandler(depsWith(), { unsubscribe });

    // Act
    const acked = replyOf(await handler(eventWith(unsubscribeFrame())));
    const refused = replyOf(
      await handler(eventWith('{"action":"unsubscribe","requestId":"r2","conversationId":"no spaces"}')),
    );

    // Assess
    expect(acked).toEqual({ type: 'ack', action: 'unsubscribe', requestId: 'r1', conversationId: 'c1' });
    expect(refused).toMatchObject({ type: 'error', code: 'invalid_request', requestId: 'r2' });
    expect(unsubscribe).toHaveBeenCalledTimes(1);
    expect(unsubscribe).toHaveBeenCalledWith(
      { action: 'unsubscribe', requestId: 'r1', conversationId: 'c1' },
      expect.objectContaining({
        userId: 'alice',
        connectionId: 'conn-1',
        deadline: KIT_NOW + 29_000 - REPLY_MARGIN_MS,
      }),
    );
  });

  it.each([
    ['an action of the table this handler has no route for', '{"action":"send"}'],
    ['an action outside the table', '{"action":"echo"}'],
    ["one of Object's own keys", '{"action":"constructor"}'],
  ])('answers unknown_action for %s', async (_case, body) => {
    // Prepare
    const handler = createActionHandler(depsWith(), { unsubscribe: async (frame) => frame });
    // Act
    const reply = replyOf(await handler(eventWith(body)));
    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'unknown_action' });
  });

  it.each(THROTTLING_NAMES)(
    'answers a non-send route whose core throws %s busy with retryAfterMs, and counts it',
    async (name) => {
      // Prepare
      const deps = depsWith();
      const handler = createActionHandler(deps, {
        listConversations: vi.fn().mockRejectedValue(awsError(name)),
      });

      // Act
      const reply = replyOf(await handler(eventWith('{"action":"listConversations","requestId":"r4"}')));

      // Assess
      expect(reply).toEqual({
        type: 'error',
        requestId: 'r4',
        code: 'busy',
        message: expect.any(String),
        retryable: true,
        retryAfterMs: THROTTLED_RETRY_MS,
      });
      expect(deps.sink).toMatchObject({ recorded: ['busy'] });
    },
  );

  it('counts each rate_limited answer, and nothing for an ack or another refusal', async () => {
    // Prepare
    const deps = depsWith({ frameRate: { ratePerSecond: 1, burst: 2 } });
    const handler = createActionHandler(deps, { unsubscribe: async (frame) => frame });

    // Act
    const codes = [];
    for (const body of [unsubscribeFrame(), '{"action":"dance"}', unsubscribeFrame(), unsubscribeFrame()]) {
      codes.push(replyOf(await handler(eventWith(body))).code);
    }

    // Assess
    expect(codes).toEqual([undefined, 'unknown_action', 'rate_limited', 'rate_limited']);
    expect(deps.sink).toMatchObject({ recorded: ['rateLimited', 'rateLimited'] });
  });

  it('closes a connection that keeps sending while refused through the disconnect it is given', async () => {
    // Prepare
    const disconnect = vi.fn(async () => {});
    const deps = depsWith({ frameRate: { ratePerSecond: 1, burst: 1, closeAfterRefused: 2 }, disconnect });
    const handler = createActionHandler(deps, { unsubscribe: async (frame) => frame });

    // Act
    for (let n = 1; n <= 4; n++) await handler(eventWith(unsubscribeFrame(`r${n}`)));

    // Assess
    expect(disconnect).toHaveBeenCalledTimes(1);
    expect(disconnect).toHaveBeenCalledWith('conn-1');
  });

  it('types each route from the action table, so a wrong ack fails the typecheck', () => {
    expectTypeOf<AckOf<'send'>>().toEqualTypeOf<SendAck>();
    expectTypeOf<RequestOf<'send'>>().toEqualTypeOf<SendFrame>();
    expectTypeOf<NonNullable<ActionRoutes['send']>>().returns.resolves.toEqualTypeOf<SendAck>();
    const wrongAck: ActionRoutes = {
      // @ts-expect-error: an unsubscribe ack carries the conversationId
      unsubscribe: async () => ({ conversation: 'c1' }),
    };
    expect(wrongAck).toBeDefined();
  });
});

describe('routeKitOf', () => {
  it("runs the route kit on the function's own clock, logger, disconnect and sink, at the connections' frame rate", () => {
    // Prepare
    const { logger } = routeKitDeps();
    const fakes = routeKitFakes();
    // Act
    const deps = routeKitOf({ logger, now: () => new Date(1_234), ...fakes });
    // Assess
    expect(deps).toEqual({ logger, clock: expect.any(Function), frameRate: CONNECTION_FRAME_RATE, ...fakes });
    expect(deps.clock()).toBe(1_234);
  });
});

describe('the action table', () => {
  it('has an entry for every two-way route the stack wires, and no other', () => {
    const wired = Object.keys(ROUTES).filter((key) => !key.startsWith('$'));
    expect(Object.keys(ACTIONS).sort()).toEqual(wired.sort());
  });
});
