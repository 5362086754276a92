import {
  ApiGatewayManagementApiClient,
  ApiGatewayManagementApiServiceException,
  DeleteConnectionCommand,
  ForbiddenException,
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  classifyPostError,
  createDisconnector,
  isThrottlingError,
  type PosterDeps,
  postToConnection,
} from '../../shared/poster';

const api = mockClient(ApiGatewayManagementApiClient);

const serverError = (status: number): ApiGatewayManagementApiServiceException =>
  new ApiGatewayManagementApiServiceException({
    name: 'InternalServerErrorException',
    $fault: 'server',
    $metadata: { httpStatusCode: status },
    message: 'internal error',
  });
const throttled = (): LimitExceededException =>
  new LimitExceededException({ message: 'slow down', $metadata: { httpStatusCode: 429 } });
const gone = (): GoneException => new GoneException({ message: 'gone', $metadata: {} });

function deps(overrides: Partial<PosterDeps> = {}): PosterDeps & { sleep: ReturnType<typeof vi.fn> } {
  const sleep = vi.fn(async (_ms: number) => {});
  return {
    client: new ApiGatewayManagementApiClient({}),
    random: () => 0.5,
    options: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 },
    ...overrides,
    sleep,
  };
}

beforeEach(() => {
  api.reset();
});

describe('postToConnection', () => {
  it('posts the data to the connection once when the first attempt succeeds', async () => {
    // Prepare
    api.on(PostToConnectionCommand).resolves({});
    const poster = deps();

    // Act
    const result = await postToConnection(poster, 'conn-1', '{"type":"message"}');

    // Assess
    expect(result).toEqual({ status: 'delivered', attempts: 1 });
    expect(api).toReceiveCommandExactlyOnceWith(PostToConnectionCommand, {
      ConnectionId: 'conn-1',
      Data: '{"type":"message"}',
    });
    expect(poster.sleep).not.toHaveBeenCalled();
  });

  it('retries a throttled post with jittered exponential backoff until it is delivered', async () => {
    // Prepare
    api.on(PostToConnectionCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({});
    const poster = deps({ random: () => 0.5 });

    // Act
    const result = await postToConnection(poster, 'conn-1', 'x');

    // Assess
    expect(result).toEqual({ status: 'delivered', attempts: 3 });
    expect(api).toReceiveCommandTimes(PostToConnectionCommand, 3);
    expect(poster.sleep.mock.calls).toEqual([[50], [100]]);
  });

  it.each([500, 502, 503])('retries a %i server error', async (status) => {
    // Prepare
    api.on(PostToConnectionCommand).rejectsOnce(serverError(status)).resolves({});

    // Act
    const result = await postToConnection(deps(), 'conn-1', 'x');

    // Assess
    expect(result).toEqual({ status: 'delivered', attempts: 2 });
  });

  it('gives up after maxAttempts and reports a retryable failure, never sleeping past the cap', async () => {
    // Prepare
    const error = serverError(500);
    api.on(PostToConnectionCommand).rejects(error);
    const poster = deps({
      random: () => 0.999,
      options: { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 500 },
    });

    // Act
    const result = await postToConnection(poster, 'conn-1', 'x');

    // Assess
    expect(result).toMatchObject({ status: 'failed', attempts: 5, retryable: true });
    expect(api).toReceiveCommandTimes(PostToConnectionCommand, 5);
    expect(poster.sleep.mock.calls).toEqual([[199], [399], [499], [499]]);
  });

  it('maps a 410 GoneException to a gone result without retrying', async () => {
    // Prepare
    api.on(PostToConnectionCommand).rejects(gone());
    const poster = deps();

    // Act
    const result = await postToConnection(poster, 'conn-dead', 'x');

    // Assess
    expect(result).toEqual({ status: 'gone', attempts: 1 });
    expect(api).toReceiveCommandTimes(PostToConnectionCommand, 1);
    expect(poster.sleep).not.toHaveBeenCalled();
  });

  it('does not retry an error that will not get better, such as 403 Forbidden', async () => {
    // Prepare
    api.on(PostToConnectionCommand).rejects(new ForbiddenException({ message: 'no', $metadata: {} }));

    // Act
    const result = await postToConnection(deps(), 'conn-1', 'x');

    // Assess
    expect(result).toMatchObject({ status: 'failed', attempts: 1, retryable: false });
    expect(api).toReceiveCommandTimes(PostToConnectionCommand, 1);
  });

  it('abandons a hung post after the per-attempt timeout and retries it', async () => {
    // Prepare: a connection that never answers unless the request is aborted.
    let calls = 0;
    const hung = {
      send: (_command: unknown, options?: { abortSignal?: AbortSignal }) => {
        calls++;
        return new Promise((_resolve, reject) => {
          options?.abortSignal?.addEventListener('abort', () => reject(options.abortSignal?.reason));
        });
      },
    } as unknown as PosterDeps['client'];
    const poster = deps({ client: hung, options: { maxAttempts: 2, timeoutMs: 5 } });

    // Act
    const result = await postToConnection(poster, 'conn-slow', 'x');

    // Assess
    expect(result).toMatchObject({ status: 'failed', attempts: 2, retryable: true });
    expect(calls).toBe(2);
  });
});

describe('classifyPostError', () => {
  it('treats a bare 410 status as gone even without the exception class', () => {
    // Prepare
    const err = Object.assign(new Error('gone'), { $metadata: { httpStatusCode: 410 } });

    // Act / Assess
    expect(classifyPostError(err)).toBe('gone');
  });

  it('treats a reset socket as retryable', () => {
    // Prepare
    const err = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

    // Act / Assess
    expect(classifyPostError(err)).toBe('retryable');
  });
});

describe('createDisconnector', () => {
  const management = mockClient(ApiGatewayManagementApiClient);

  beforeEach(() => management.reset());

  it('closes the connection through DeleteConnection', async () => {
    management.on(DeleteConnectionCommand).resolves({});

    await createDisconnector(new ApiGatewayManagementApiClient({}))('conn-1');

    expect(management).toReceiveCommandExactlyOnceWith(DeleteConnectionCommand, { ConnectionId: 'conn-1' });
  });

  it('counts a connection that is already gone as closed, and rethrows anything else', async () => {
    const disconnect = createDisconnector(new ApiGatewayManagementApiClient({}));
    management
      .on(DeleteConnectionCommand)
      .rejectsOnce(new GoneException({ message: 'gone', $metadata: { httpStatusCode: 410 } }))
      .rejectsOnce(new ForbiddenException({ message: 'no', $metadata: { httpStatusCode: 403 } }));

    await expect(disconnect('gone-1')).resolves.toBeUndefined();
    await expect(disconnect('conn-2')).rejects.toBeInstanceOf(ForbiddenException);
  });
});

describe('isThrottlingError', () => {
  it('is true for rate limits only, not for server errors', () => {
    expect(
      isThrottlingError(new LimitExceededException({ message: 'slow', $metadata: { httpStatusCode: 429 } })),
    ).toBe(true);
    expect(
      isThrottlingError(
        new ApiGatewayManagementApiServiceException({
          name: 'InternalServerErrorException',
          $fault: 'server',
          $metadata: { httpStatusCode: 500 },
          message: 'boom',
        }),
      ),
    ).toBe(false);
  });
});
