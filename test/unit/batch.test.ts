import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  DynamoDBDocumentClient,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { batchGetAll, queryAll } from '../../shared/store/batch';

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const keyOf = (n: number) => ({ conversationId: `c-${n}`, sk: 'META' });

beforeEach(() => {
  ddbMock.reset();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('batchGetAll', () => {
  it('reads 100 keys per call and resends only the unprocessed ones until all are read', async () => {
    // Prepare: the first call of the first chunk leaves two keys unprocessed.
    vi.useFakeTimers();
    let calls = 0;
    ddbMock.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
      calls++;
      const keys = input.RequestItems?.t?.Keys ?? [];
      const unprocessed = calls === 1 ? keys.slice(0, 2) : [];
      const answered = calls === 1 ? keys.slice(2) : keys;
      return { Responses: { t: answered }, UnprocessedKeys: calls === 1 ? { t: { Keys: unprocessed } } : {} };
    });
    const keys = Array.from({ length: 150 }, (_, n) => keyOf(n));

    // Act
    const reading = batchGetAll(ddb, 't', keys, { consistentRead: true, projection: 'conversationId' });
    await vi.runAllTimersAsync();
    const items = await reading;

    // Assess
    expect(items).toHaveLength(150);
    const sizes = ddbMock
      .commandCalls(BatchGetCommand)
      .map((call) => call.args[0].input.RequestItems?.t?.Keys?.length);
    expect(sizes).toEqual([100, 2, 50]);
    expect(ddbMock).toHaveReceivedCommandWith(BatchGetCommand, {
      RequestItems: {
        t: { Keys: expect.any(Array), ConsistentRead: true, ProjectionExpression: 'conversationId' },
      },
    });
  });

  it('gives up with an error when keys stay unprocessed', async () => {
    // Prepare
    vi.useFakeTimers();
    ddbMock.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => ({
      Responses: { t: [] },
      UnprocessedKeys: { t: { Keys: input.RequestItems?.t?.Keys ?? [] } },
    }));

    // Act
    const reading = batchGetAll(ddb, 't', [keyOf(1)]);
    const outcome = expect(reading).rejects.toThrow('BatchGetItem on t left keys unprocessed');
    await vi.runAllTimersAsync();

    // Assess
    await outcome;
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetCommand, 5);
  });
});

describe('queryAll', () => {
  const input = {
    TableName: 't',
    KeyConditionExpression: 'conversationId = :c',
    ExpressionAttributeValues: { ':c': 'c-1' },
  };

  it('reads every page, in order, and sends the query as given', async () => {
    // Prepare
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ n: 1 }, { n: 2 }], LastEvaluatedKey: { n: 2 } })
      .resolvesOnce({ Items: [{ n: 3 }] });

    // Act
    const items = await queryAll(ddb, input);

    // Assess
    expect(items).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 2);
    expect(ddbMock).toHaveReceivedNthCommandWith(QueryCommand, 2, { ...input, ExclusiveStartKey: { n: 2 } });
  });

  it('with a limit, asks for that many per page and reads no page once it has them', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [{ n: 1 }], LastEvaluatedKey: { n: 1 } });

    // Act
    const items = await queryAll(ddb, input, { limit: 1 });

    // Assess
    expect(items).toEqual([{ n: 1 }]);
    expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, { ...input, Limit: 1 });
  });
});
