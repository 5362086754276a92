import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LIMITS } from '../../shared/limits';
import {
  deleteConnection,
  listSubscribers,
  putConnection,
  putSubscription,
} from '../../shared/store/connections';

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const tables = { connections: 'connections-table', subscriptions: 'subscriptions-table' };
const NOW = new Date('2025-06-01T12:00:00.000Z');
const expectedExpiry = NOW.getTime() / 1000 + LIMITS.connectionTtlSeconds;

const subscriptionKeys = (connectionId: string, from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ conversationId: `conv-${from + i}`, connectionId }));

/** The keys each BatchWrite asked to delete, in call order. */
function batchWrittenKeys(): unknown[][] {
  return ddbMock.commandCalls(BatchWriteCommand).map((call) => {
    const input = call.args[0].input as BatchWriteCommandInput;
    return (input.RequestItems?.[tables.subscriptions] ?? []).map((request) => request.DeleteRequest?.Key);
  });
}

beforeEach(() => {
  ddbMock.reset();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('putConnection and putSubscription', () => {
  it('stores a connection with an expiresAt TTL beyond the 2 h connection limit', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    await putConnection(
      ddb,
      tables,
      { connectionId: 'c1', userId: 'alice', connectedAt: NOW.toISOString() },
      NOW,
    );

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.connections,
      Item: {
        connectionId: 'c1',
        userId: 'alice',
        connectedAt: NOW.toISOString(),
        expiresAt: expectedExpiry,
      },
    });
  });

  it('stores a subscription with subscribedAt and the same TTL, so orphans expire with their connection', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    await putSubscription(
      ddb,
      tables,
      { conversationId: 'general', connectionId: 'c1', userId: 'alice' },
      NOW,
    );

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.subscriptions,
      Item: {
        conversationId: 'general',
        connectionId: 'c1',
        userId: 'alice',
        subscribedAt: NOW.toISOString(),
        expiresAt: expectedExpiry,
      },
    });
  });
});

describe('listSubscribers', () => {
  it('reads strongly consistent, so a subscription acked a moment ago gets the next message (G5)', async () => {
    ddbMock.on(QueryCommand).resolves({ Items: [{ connectionId: 'c1' }] });

    await listSubscribers(ddb, tables, 'general');

    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.subscriptions,
      KeyConditionExpression: 'conversationId = :c',
      ConsistentRead: true,
    });
  });

  it('follows LastEvaluatedKey and returns the connections of every page', async () => {
    // Prepare
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({
        Items: [{ connectionId: 'c1' }, { connectionId: 'c2' }],
        LastEvaluatedKey: { conversationId: 'general', connectionId: 'c2' },
      })
      .resolvesOnce({ Items: [{ connectionId: 'c3' }] });

    // Act
    const connectionIds = await listSubscribers(ddb, tables, 'general');

    // Assess
    expect(connectionIds).toEqual(['c1', 'c2', 'c3']);
    expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 2);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.subscriptions,
      ExpressionAttributeValues: { ':c': 'general' },
      ExclusiveStartKey: { conversationId: 'general', connectionId: 'c2' },
    });
  });
});

describe('deleteConnection', () => {
  it('reads every page of the byConnection index and deletes the subscriptions in batches of 25', async () => {
    // Prepare
    const firstPage = subscriptionKeys('c1', 0, 20);
    const secondPage = subscriptionKeys('c1', 20, 13);
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({ Items: firstPage, LastEvaluatedKey: firstPage.at(-1) })
      .resolvesOnce({ Items: secondPage });
    ddbMock.on(BatchWriteCommand).resolves({});
    ddbMock.on(DeleteCommand).resolves({});

    // Act
    await deleteConnection(ddb, tables, 'c1');

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 2);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'byConnection',
      ExclusiveStartKey: firstPage.at(-1),
    });
    const all = [...firstPage, ...secondPage];
    expect(batchWrittenKeys()).toEqual([all.slice(0, 25), all.slice(25)]);
  });

  it('resends only the unprocessed items until DynamoDB has processed them all', async () => {
    // Prepare
    vi.useFakeTimers();
    const keys = subscriptionKeys('c1', 0, 3);
    const [, second, third] = keys;
    ddbMock.on(QueryCommand).resolves({ Items: keys });
    ddbMock
      .on(BatchWriteCommand)
      .resolvesOnce({
        UnprocessedItems: {
          [tables.subscriptions]: [{ DeleteRequest: { Key: second } }, { DeleteRequest: { Key: third } }],
        },
      })
      .resolvesOnce({ UnprocessedItems: { [tables.subscriptions]: [{ DeleteRequest: { Key: third } }] } })
      .resolves({ UnprocessedItems: {} });
    ddbMock.on(DeleteCommand).resolves({});

    // Act
    const deletion = deleteConnection(ddb, tables, 'c1');
    await vi.runAllTimersAsync();
    await deletion;

    // Assess
    expect(batchWrittenKeys()).toEqual([keys, [second, third], [third]]);
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 1);
  });

  it('deletes the subscriptions before the connection item', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: subscriptionKeys('c1', 0, 2) });
    ddbMock.on(BatchWriteCommand).resolves({});
    ddbMock.on(DeleteCommand).resolves({});

    // Act
    await deleteConnection(ddb, tables, 'c1');

    // Assess
    const order = ddbMock.calls().map((call) => call.args[0].constructor.name);
    expect(order).toEqual(['QueryCommand', 'BatchWriteCommand', 'DeleteCommand']);
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: tables.connections,
      Key: { connectionId: 'c1' },
    });
  });

  it('keeps the connection item when its subscriptions cannot all be deleted', async () => {
    // Prepare
    vi.useFakeTimers();
    const keys = subscriptionKeys('c1', 0, 1);
    ddbMock.on(QueryCommand).resolves({ Items: keys });
    ddbMock
      .on(BatchWriteCommand)
      .resolves({ UnprocessedItems: { [tables.subscriptions]: [{ DeleteRequest: { Key: keys[0] } }] } });

    // Act
    const deletion = deleteConnection(ddb, tables, 'c1');
    const outcome = expect(deletion).rejects.toThrow(/unprocessed items/);
    await vi.runAllTimersAsync();
    await outcome;

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 0);
  });
});
