import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type BatchGetCommandInput, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { batchGetAll } from '../../shared/store/batch';

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const keyOf = (n: number) => ({ conversationId: `c-${n}`, sk: 'META' });

beforeEach(() => {
  ddbMock.reset();
});

describe('batchGetAll', () => {
  it('reads 100 keys per call and resends only the unprocessed ones until all are read', async () => {
    // Prepare: the first call of the first chunk leaves two keys unprocessed.
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
    const items = await batchGetAll(ddb, 't', keys, { consistentRead: true, projection: 'conversationId' });

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
    ddbMock.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => ({
      Responses: { t: [] },
      UnprocessedKeys: { t: { Keys: input.RequestItems?.t?.Keys ?? [] } },
    }));

    // Act
    const reading = batchGetAll(ddb, 't', [keyOf(1)]);

    // Assess
    await expect(reading).rejects.toThrow('BatchGetItem on t left keys unprocessed');
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetCommand, 5);
  });
});
