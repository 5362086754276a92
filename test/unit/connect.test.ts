import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createConnectHandler } from '../../lambdas/connect/lifecycle';
import { LIMITS } from '../../shared/limits';
import { lifecycleEvent } from '../support/api-gateway';

const ddbMock = mockClient(DynamoDBDocumentClient);
const tables = { connections: 'connections-table', subscriptions: 'subscriptions-table' };
const NOW = new Date('2025-06-01T12:00:00.000Z');
const CONNECTION_ID = 'conn-1=';

function setup() {
  const logger = { appendKeys: vi.fn(), removeKeys: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  const handle = createConnectHandler({
    ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    tables,
    logger,
    now: () => NOW,
  });
  return { handle, logger };
}

beforeEach(() => {
  ddbMock.reset();
});

describe('$connect', () => {
  it('stores the connection under the authorized user with connectedAt and a TTL past the 2 h limit', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});
    const { handle, logger } = setup();

    // Act
    const result = await handle(
      lifecycleEvent('CONNECT', {
        connectionId: CONNECTION_ID,
        authorizer: { principalId: 'alice', userId: 'alice' },
      }),
    );

    // Assess
    expect(result).toEqual({ statusCode: 200 });
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.connections,
      Item: {
        connectionId: CONNECTION_ID,
        userId: 'alice',
        connectedAt: NOW.toISOString(),
        expiresAt: NOW.getTime() / 1000 + LIMITS.connectionTtlSeconds,
      },
    });
    expect(logger.appendKeys).toHaveBeenCalledWith({ connectionId: CONNECTION_ID });
  });

  it.each([
    ['a token that expires an hour from now: 10 minutes (the idle timeout) after its exp', 3600, 3600 + 600],
    ['a token that outlives the 2 h limit: past the limit', 3 * 3600, LIMITS.connectionTtlSeconds],
  ])('stores the token exp with the connection and a TTL for %s', async (_case, expiresIn, ttlIn) => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});
    const { handle } = setup();
    const exp = NOW.getTime() / 1000 + expiresIn;

    // Act: API Gateway hands the authorizer's context values to the routes as strings.
    await handle(
      lifecycleEvent('CONNECT', {
        connectionId: CONNECTION_ID,
        authorizer: { principalId: 'alice', userId: 'alice', exp: String(exp) },
      }),
    );

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      Item: expect.objectContaining({ tokenExpiresAt: exp, expiresAt: NOW.getTime() / 1000 + ttlIn }),
    });
  });

  it('refuses with 401 and writes nothing when the authorizer context has an exp that is not a number', async () => {
    // Prepare
    const { handle } = setup();

    // Act
    const result = await handle(
      lifecycleEvent('CONNECT', {
        connectionId: CONNECTION_ID,
        authorizer: { principalId: 'alice', exp: 'soon' },
      }),
    );

    // Assess
    expect(result).toEqual({ statusCode: 401 });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('falls back to the principalId when the authorizer context carries no userId', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});
    const { handle } = setup();

    // Act
    await handle(
      lifecycleEvent('CONNECT', { connectionId: CONNECTION_ID, authorizer: { principalId: 'bob' } }),
    );

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      Item: expect.objectContaining({ userId: 'bob' }),
    });
  });

  it('refuses with 401 and writes nothing when no user was authorized', async () => {
    // Prepare
    const { handle, logger } = setup();

    // Act
    const result = await handle(lifecycleEvent('CONNECT', { connectionId: CONNECTION_ID, authorizer: null }));

    // Assess
    expect(result).toEqual({ statusCode: 401 });
    expect(ddbMock.calls()).toHaveLength(0);
    expect(logger.warn).toHaveBeenCalledWith('Connection refused', expect.anything());
  });

  it('fails the handshake when the connection cannot be stored, so no unreachable socket stays open', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(new Error('ProvisionedThroughputExceededException'));
    const { handle, logger } = setup();

    // Act
    const attempt = handle(
      lifecycleEvent('CONNECT', { connectionId: CONNECTION_ID, authorizer: { userId: 'alice' } }),
    );

    // Assess
    await expect(attempt).rejects.toThrow('ProvisionedThroughputExceededException');
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(logger.removeKeys).toHaveBeenCalledWith(['connectionId']);
  });
});

describe('$disconnect', () => {
  it('deletes the connection item, then the subscriptions of every conversation in its set', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).resolves({
      Attributes: {
        connectionId: CONNECTION_ID,
        userId: 'alice',
        conversations: new Set(['general', 'random']),
      },
    });
    ddbMock.on(BatchWriteCommand).resolves({});
    const { handle } = setup();

    // Act
    const result = await handle(
      lifecycleEvent('DISCONNECT', { connectionId: CONNECTION_ID, authorizer: { userId: 'alice' } }),
    );

    // Assess
    expect(result).toEqual({ statusCode: 200 });
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: tables.connections,
      Key: { connectionId: CONNECTION_ID },
      ReturnValues: 'ALL_OLD',
    });
    expect(ddbMock).toHaveReceivedCommandWith(BatchWriteCommand, {
      RequestItems: {
        [tables.subscriptions]: [
          { DeleteRequest: { Key: { conversationId: 'general', connectionId: CONNECTION_ID } } },
          { DeleteRequest: { Key: { conversationId: 'random', connectionId: CONNECTION_ID } } },
        ],
      },
    });
    expect(ddbMock.calls().map((call) => call.args[0].constructor.name)).toEqual([
      'DeleteCommand',
      'BatchWriteCommand',
    ]);
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
  });

  it('succeeds without writing subscriptions when the connection is already gone', async () => {
    // Prepare: DeleteItem of a missing item returns no attributes.
    ddbMock.on(DeleteCommand).resolves({});
    const { handle } = setup();

    // Act
    const result = await handle(
      lifecycleEvent('DISCONNECT', { connectionId: CONNECTION_ID, authorizer: null }),
    );

    // Assess
    expect(result).toEqual({ statusCode: 200 });
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteCommand, 0);
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, { Key: { connectionId: CONNECTION_ID } });
  });
});
