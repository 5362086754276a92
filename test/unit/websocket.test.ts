import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { InternalError, NotAMemberError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { createRouteHandler, type RouteEvent, route, userIdOf } from '../../shared/websocket';

const echoSchema = z.strictObject({
  action: z.literal('echo'),
  requestId: z.string().optional(),
  text: z.string(),
});

function eventWith(
  body: string | undefined,
  authorizer: Record<string, string> | null = { principalId: 'alice' },
) {
  return {
    body,
    isBase64Encoded: false,
    requestContext: {
      routeKey: 'echo',
      eventType: 'MESSAGE',
      connectionId: 'conn-1',
      requestId: 'aws-req-1',
      messageId: 'msg-1',
      apiId: 'api',
      stage: 'test',
      domainName: 'localhost',
      connectedAt: 0,
      requestTimeEpoch: 0,
      extendedRequestId: 'x',
      messageDirection: 'IN',
      ...(authorizer ? { authorizer } : {}),
    },
  } as unknown as RouteEvent;
}

function handlerWith(run = vi.fn(async (frame: { text: string }) => ({ echoed: frame.text }))) {
  const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' });
  return { run, handler: createRouteHandler(logger, { echo: route({ schema: echoSchema, run }) }) };
}

const replyOf = (result: { body: string }) => JSON.parse(result.body) as Record<string, unknown>;

describe('createRouteHandler', () => {
  it('acks a valid frame with the action, the requestId and the result', async () => {
    // Prepare
    const { handler, run } = handlerWith();
    // Act
    const result = await handler(eventWith(JSON.stringify({ action: 'echo', requestId: 'r1', text: 'hi' })));
    // Assess
    expect(result.statusCode).toBe(200);
    expect(replyOf(result)).toEqual({ type: 'ack', action: 'echo', requestId: 'r1', echoed: 'hi' });
    expect(run).toHaveBeenCalledWith(
      { action: 'echo', requestId: 'r1', text: 'hi' },
      { userId: 'alice', connectionId: 'conn-1', awsRequestId: 'aws-req-1' },
    );
  });

  it.each([
    ['malformed JSON', '{"action": "echo",', 'invalid_json'],
    ['a JSON array', '[1,2]', 'invalid_json'],
    ['a JSON string', '"echo"', 'invalid_json'],
    ['an unknown action', '{"action":"dance","requestId":"r9"}', 'unknown_action'],
    ['a missing action', '{"text":"hi"}', 'unknown_action'],
    ['an inherited property name as action', '{"action":"toString"}', 'unknown_action'],
    ['a wrong-typed field', '{"action":"echo","text":42}', 'invalid_request'],
    ['an unexpected field', '{"action":"echo","text":"hi","admin":true}', 'invalid_request'],
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
    const reply = replyOf(await handler(eventWith('{"action":"echo","requestId":"r7","text":1}')));
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request', requestId: 'r7' });
    expect(reply.message).toContain('text');
  });

  it('refuses a frame over the 32 KB frame limit before parsing it', async () => {
    const { handler, run } = handlerWith();
    const body = JSON.stringify({ action: 'echo', text: 'x'.repeat(LIMITS.maxFrameBytes) });
    const reply = replyOf(await handler(eventWith(body)));
    expect(reply).toMatchObject({ type: 'error', code: 'payload_too_large' });
    expect(run).not.toHaveBeenCalled();
  });

  it('refuses a frame without an authorizer identity', async () => {
    const { handler, run } = handlerWith();
    const reply = replyOf(await handler(eventWith('{"action":"echo","text":"hi"}', null)));
    expect(reply).toMatchObject({ type: 'error', code: 'unauthorized' });
    expect(run).not.toHaveBeenCalled();
  });

  it('maps a domain error to its code and an unexpected error to a retryable internal_error', async () => {
    const failing = vi
      .fn()
      .mockRejectedValueOnce(new NotAMemberError('c1'))
      .mockRejectedValueOnce(new Error('socket hang up with secret details'));
    const { handler } = handlerWith(failing);
    const frame = JSON.stringify({ action: 'echo', text: 'hi' });

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
});

describe('createRouteHandler logging', () => {
  const withConversation = z.strictObject({
    action: z.literal('echo'),
    requestId: z.string().optional(),
    conversationId: z.string(),
  });

  function loggedHandler(run: () => Promise<Record<string, unknown>>) {
    const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' });
    const warn = vi.spyOn(logger, 'warn');
    const error = vi.spyOn(logger, 'error');
    const appendKeys = vi.spyOn(logger, 'appendKeys');
    const removeKeys = vi.spyOn(logger, 'removeKeys');
    const handler = createRouteHandler(logger, { echo: route({ schema: withConversation, run }) });
    return { handler, warn, error, appendKeys, removeKeys };
  }

  it('logs every refusal with its code (G8) and an unexpected failure as an error', async () => {
    // Prepare
    const { handler, warn, error } = loggedHandler(vi.fn().mockRejectedValue(new Error('boom')));
    // Act
    await handler(eventWith('{"action":"echo",'));
    await handler(eventWith('{"action":"echo","conversationId":"c1"}'));
    // Assess
    expect(warn).toHaveBeenCalledWith('Request refused', expect.objectContaining({ code: 'invalid_json' }));
    expect(error).toHaveBeenCalledWith(
      'Request failed',
      expect.objectContaining({ error: expect.any(Error) }),
    );
  });

  it("tags the request's logs with its conversationId and clears it afterwards", async () => {
    // Prepare
    const { handler, appendKeys, removeKeys } = loggedHandler(async () => ({}));
    // Act
    await handler(eventWith('{"action":"echo","conversationId":"c1"}'));
    // Assess
    expect(appendKeys).toHaveBeenCalledWith({ conversationId: 'c1' });
    expect(removeKeys).toHaveBeenLastCalledWith(expect.arrayContaining(['conversationId', 'seq']));
  });
});

describe('userIdOf', () => {
  it('prefers the userId context and falls back to principalId', () => {
    expect(userIdOf(eventWith('', { principalId: 'p', userId: 'u' }))).toBe('u');
    expect(userIdOf(eventWith('', { principalId: 'p' }))).toBe('p');
  });
});
