import { Readable } from 'node:stream';
import { DynamoDBClient, PutItemCommand, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CapacityReport,
  CONSUMED_CAPACITY_STEP,
  capacityUnits,
  consumedCapacityMiddleware,
  observeConsumedCapacity,
} from '../../shared/consumed-capacity';
import { runInvocation } from '../../shared/invocation';

/** A DynamoDB client with the capacity middleware, as shared/aws/dynamodb.ts builds it, answered by `answer`. */
function clientAnswering(answer: { status: number; body: object; type?: string }, bodies: string[]) {
  const client = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    requestHandler: {
      handle: async (request: { body?: unknown }) => {
        const { body } = request;
        bodies.push(typeof body === 'string' ? body : Buffer.from(body as Uint8Array).toString());
        return {
          response: {
            statusCode: answer.status,
            headers: {
              'content-type': 'application/x-amz-json-1.0',
              ...(answer.type ? { 'x-amzn-errortype': answer.type } : {}),
            },
            body: Readable.from([Buffer.from(JSON.stringify(answer.body))]),
          },
        };
      },
    } as never,
  });
  client.middlewareStack.add(consumedCapacityMiddleware(), CONSUMED_CAPACITY_STEP);
  return client;
}

const put = new PutItemCommand({ TableName: 'messages', Item: { pk: { S: 'a' } } });
const running = { functionName: 'send', signal: new AbortController().signal };
let stop: () => void = () => undefined;

afterEach(() => stop());

describe('consumedCapacityMiddleware', () => {
  it('asks for nothing more while nobody observes', async () => {
    // Prepare
    const bodies: string[] = [];
    const client = clientAnswering({ status: 200, body: {} }, bodies);

    // Act
    await client.send(put);

    // Assess
    expect(JSON.parse(bodies[0] ?? '{}')).not.toHaveProperty('ReturnConsumedCapacity');
  });

  it('asks for the TOTAL while observed and reports the answer under the calling function', async () => {
    // Prepare
    const bodies: string[] = [];
    const reports: CapacityReport[] = [];
    stop = observeConsumedCapacity((report) => reports.push(report));
    const client = clientAnswering(
      { status: 200, body: { ConsumedCapacity: { TableName: 'messages', CapacityUnits: 2 } } },
      bodies,
    );

    // Act
    await runInvocation(running, () => client.send(put));

    // Assess
    expect(JSON.parse(bodies[0] ?? '{}')).toMatchObject({ ReturnConsumedCapacity: 'TOTAL' });
    expect(reports).toEqual([
      {
        command: 'PutItemCommand',
        functionName: 'send',
        readUnits: 0,
        writeUnits: 2,
        refused: false,
        transactItems: undefined,
      },
    ]);
  });

  it('counts a write refused by its condition as one write unit, and still throws', async () => {
    // Prepare
    const reports: CapacityReport[] = [];
    stop = observeConsumedCapacity((report) => reports.push(report));
    const client = clientAnswering(
      {
        status: 400,
        type: 'ConditionalCheckFailedException',
        body: {
          __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
          message: 'The conditional request failed',
        },
      },
      [],
    );

    // Act
    const sent = runInvocation(running, () => client.send(put));

    // Assess
    await expect(sent).rejects.toThrow('The conditional request failed');
    expect(reports).toEqual([
      {
        command: 'PutItemCommand',
        functionName: 'send',
        readUnits: 0,
        writeUnits: 1,
        refused: true,
        transactItems: undefined,
      },
    ]);
  });

  it('names the items of a transaction', async () => {
    // Prepare
    const reports: CapacityReport[] = [];
    stop = observeConsumedCapacity((report) => reports.push(report));
    const client = clientAnswering(
      { status: 200, body: { ConsumedCapacity: [{ TableName: 'messages', CapacityUnits: 2 }] } },
      [],
    );
    const item = { Put: { TableName: 'messages', Item: { pk: { S: 'a' } } } };

    // Act
    await client.send(new TransactWriteItemsCommand({ TransactItems: [item, item, item] }));

    // Assess
    expect(reports).toMatchObject([
      { command: 'TransactWriteItemsCommand', transactItems: 3, functionName: undefined },
    ]);
  });
});

describe('capacityUnits', () => {
  it('takes split units as given and an unsplit total as the operation kind', () => {
    // Act
    const split = capacityUnits(
      [{ ReadCapacityUnits: 1, WriteCapacityUnits: 2 }, { CapacityUnits: 3 }],
      'write',
    );
    const unsplit = capacityUnits({ CapacityUnits: 0.5 }, 'read');
    const none = capacityUnits(undefined, 'read');

    // Assess
    expect(split).toEqual({ readUnits: 1, writeUnits: 5 });
    expect(unsplit).toEqual({ readUnits: 0.5, writeUnits: 0 });
    expect(none).toEqual({ readUnits: 0, writeUnits: 0 });
  });
});
