/**
 * The route kit ends a socket with its token: no frame runs after the authorizer's `exp`; the client is
 * told `token_expired` (posted before the close, since a route's answer is lost once its connection is
 * deleted) and the connection is closed.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, type vi } from 'vitest';
import { type Caller, createActionHandler, managementApiDisconnector } from '../../shared/route-kit';
import { routeEvent } from '../support/api-gateway';
import { KIT_NOW, routeKitDeps } from '../support/route-kit';

const management = mockClient(ApiGatewayManagementApiClient);
const ENDPOINT = 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod';
/** The clock of the route kit's test deps, in epoch seconds. */
const NOW_SECONDS = KIT_NOW / 1000;

const replyOf = (result: { body: string }) => JSON.parse(result.body) as Record<string, unknown>;

/** An `unsubscribe` frame on alice's connection conn-1, whose token expires at `exp` (as API Gateway passes it). */
const frameWithExp = (exp: string | number | undefined, requestId = 'r1') =>
  routeEvent({
    body: { action: 'unsubscribe', requestId, conversationId: 'c1' },
    authorizer: { principalId: 'alice', userId: 'alice', ...(exp === undefined ? {} : { exp }) },
  });

function handlerWith() {
  const callers: Caller[] = [];
  const deps = routeKitDeps();
  const handler = createActionHandler(deps, {
    unsubscribe: async (frame, caller) => {
      callers.push(caller);
      return { conversationId: frame.conversationId };
    },
  });
  return { handler, callers, disconnect: deps.disconnect as ReturnType<typeof vi.fn> };
}

beforeEach(() => {
  management.reset();
});

describe('frames after the token expires', () => {
  it('runs a frame before exp and gives the route the expiry, whether the context says it as a string or a number', async () => {
    // Prepare
    const { handler, callers, disconnect } = handlerWith();

    // Act
    const asString = replyOf(await handler(frameWithExp(String(NOW_SECONDS + 1))));
    const asNumber = replyOf(await handler(frameWithExp(NOW_SECONDS + 1)));

    // Assess
    expect([asString.type, asNumber.type]).toEqual(['ack', 'ack']);
    expect(callers.map((caller) => caller.tokenExpiresAt)).toEqual([NOW_SECONDS + 1, NOW_SECONDS + 1]);
    expect(disconnect).not.toHaveBeenCalled();
  });

  it.each([
    ['at exp (no tolerance)', NOW_SECONDS],
    ['ten minutes after exp', NOW_SECONDS - 600],
  ])(
    'refuses a frame %s with token_expired, runs nothing and closes the connection after telling it',
    async (_case, exp) => {
      // Prepare
      const { handler, callers, disconnect } = handlerWith();

      // Act
      const reply = replyOf(await handler(frameWithExp(String(exp), 'r7')));

      // Assess
      const refusal = {
        type: 'error',
        requestId: 'r7',
        code: 'token_expired',
        message: 'Your sign-in token has expired and this connection is closed; reconnect with a fresh token',
        retryable: false,
      };
      expect(reply).toEqual(refusal);
      expect(callers).toEqual([]);
      expect(disconnect).toHaveBeenCalledTimes(1);
      expect(disconnect).toHaveBeenCalledWith('conn-1', JSON.stringify(refusal));
    },
  );

  it('refuses even a malformed frame after exp, before the frame rate counts it', async () => {
    // Prepare
    const { handler, disconnect } = handlerWith();
    const event = frameWithExp(String(NOW_SECONDS - 1));
    event.body = 'not json';

    // Act
    const reply = replyOf(await handler(event));

    // Assess
    expect(reply).toMatchObject({ code: 'token_expired' });
    expect(reply).not.toHaveProperty('requestId');
    expect(disconnect).toHaveBeenCalledTimes(1);
  });

  it('runs frames of a connection whose context has no exp (opened before the authorizer passed it)', async () => {
    // Prepare
    const { handler, callers } = handlerWith();

    // Act
    const reply = replyOf(await handler(frameWithExp(undefined)));

    // Assess
    expect(reply.type).toBe('ack');
    expect(callers[0]).not.toHaveProperty('tokenExpiresAt');
  });

  it('refuses with unauthorized a context whose exp is not a number, and runs nothing', async () => {
    // Prepare
    const { handler, callers } = handlerWith();

    // Act
    const reply = replyOf(await handler(frameWithExp('tomorrow')));

    // Assess
    expect(reply).toMatchObject({ code: 'unauthorized' });
    expect(callers).toEqual([]);
  });
});

describe('managementApiDisconnector with a last frame', () => {
  it('posts the last frame, then deletes the connection: two calls', async () => {
    // Prepare
    management.on(PostToConnectionCommand).resolves({});
    management.on(DeleteConnectionCommand).resolves({});

    // Act
    await managementApiDisconnector(ENDPOINT)('conn-9', '{"type":"error","code":"token_expired"}');

    // Assess
    expect(management.calls().map((call) => call.args[0].constructor.name)).toEqual([
      'PostToConnectionCommand',
      'DeleteConnectionCommand',
    ]);
    expect(management).toReceiveCommandWith(PostToConnectionCommand, {
      ConnectionId: 'conn-9',
      Data: '{"type":"error","code":"token_expired"}',
    });
    expect(management).toReceiveCommandWith(DeleteConnectionCommand, { ConnectionId: 'conn-9' });
  });

  it('still deletes the connection when the last frame cannot be posted', async () => {
    // Prepare
    management.on(PostToConnectionCommand).rejects(new GoneException({ message: 'gone', $metadata: {} }));
    management.on(DeleteConnectionCommand).resolves({});

    // Act
    await managementApiDisconnector(ENDPOINT)('conn-9', '{}');

    // Assess
    expect(management).toReceiveCommandTimes(DeleteConnectionCommand, 1);
  });
});
