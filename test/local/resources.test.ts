import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FANOUT_QUEUE, fanoutVisibilityTimeoutSeconds } from '../../lib/wiring';
import { createQueues, createTables } from '../../local/resources';
import { type KeyDefinition, TABLES, type TableDefinition, type TableName } from '../../shared/tables';
import { useDynamoDbLocal, useSqsEmulator } from '../support/local-runtime';

const keySchemaOf = (partitionKey: KeyDefinition, sortKey?: KeyDefinition) => [
  { AttributeName: partitionKey.name, KeyType: 'HASH' },
  ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' }] : []),
];

describe('createTables', () => {
  const local = useDynamoDbLocal();
  const ddb = (): DynamoDBClient => local().ddb;
  const described = new Map<TableName, TableDescription>();
  const entries = Object.entries(TABLES) as [TableName, TableDefinition][];

  beforeAll(async () => {
    const names = await createTables(ddb(), 'test');
    for (const [name] of entries) {
      const { Table } = await ddb().send(new DescribeTableCommand({ TableName: names[name] }));
      if (Table) described.set(name, Table);
    }
  });

  it.each(entries)('creates %s with the key schema and billing mode of TABLES', (name, definition) => {
    const table = described.get(name);

    expect(table?.TableName).toBe(`test-${name}`);
    expect(table?.KeySchema).toEqual(keySchemaOf(definition.partitionKey, definition.sortKey));
    expect(table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it.each(entries)('gives %s exactly the global secondary indexes of TABLES', (name, definition) => {
    const indexes = (described.get(name)?.GlobalSecondaryIndexes ?? []).map((index) => ({
      name: index.IndexName,
      keys: index.KeySchema,
      projection: index.Projection?.ProjectionType,
    }));

    expect(indexes).toEqual(
      (definition.globalSecondaryIndexes ?? []).map((index) => ({
        name: index.indexName,
        keys: keySchemaOf(index.partitionKey, index.sortKey),
        projection: index.projection,
      })),
    );
  });

  it.each(entries)('declares each key attribute of %s once, with its type', (name, definition) => {
    const keys = [definition.partitionKey, definition.sortKey];
    for (const index of definition.globalSecondaryIndexes ?? []) keys.push(index.partitionKey, index.sortKey);
    const expected = new Map(keys.flatMap((key) => (key ? [[key.name, key.type] as const] : [])));

    const attributes = described.get(name)?.AttributeDefinitions ?? [];

    expect(attributes).toHaveLength(expected.size);
    expect(new Map(attributes.map((a) => [a.AttributeName, a.AttributeType]))).toEqual(expected);
  });

  it.each(entries)(
    'enables TTL on %s exactly when TABLES names a TTL attribute',
    async (name, definition) => {
      const { TimeToLiveDescription } = await ddb().send(
        new DescribeTimeToLiveCommand({ TableName: `test-${name}` }),
      );

      if (definition.timeToLiveAttribute === undefined) {
        expect(TimeToLiveDescription?.TimeToLiveStatus).not.toBe('ENABLED');
      } else {
        expect(TimeToLiveDescription).toEqual({
          TimeToLiveStatus: 'ENABLED',
          AttributeName: definition.timeToLiveAttribute,
        });
      }
    },
  );
});

describe('createQueues', () => {
  const local = useSqsEmulator();
  const sqs = (): SQSClient => local().sqs;

  const attributesOf = async (url: string) =>
    (await sqs().send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
      .Attributes ?? {};

  it('creates a FIFO fan-out queue that redrives to a FIFO dead-letter queue after maxReceiveCount', async () => {
    // Act
    const queues = await createQueues(sqs(), 'pair', { maxReceiveCount: 3, visibilityTimeoutSeconds: 42 });

    // Assess
    const fanout = await attributesOf(queues.fanout.url);
    const deadLetter = await attributesOf(queues.deadLetter.url);
    expect(queues.fanout.arn).toMatch(/:pair-fanout\.fifo$/);
    expect(queues.deadLetter.arn).toMatch(/:pair-dead-letter\.fifo$/);
    expect(fanout).toMatchObject({
      QueueArn: queues.fanout.arn,
      FifoQueue: 'true',
      ContentBasedDeduplication: 'false',
      VisibilityTimeout: '42',
    });
    expect(JSON.parse(fanout.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: queues.deadLetter.arn,
      maxReceiveCount: 3,
    });
    expect(deadLetter).toMatchObject({
      QueueArn: queues.deadLetter.arn,
      FifoQueue: 'true',
      ContentBasedDeduplication: 'false',
    });
    expect(deadLetter.RedrivePolicy).toBeUndefined();
  });

  it('defaults to the deployed settings from lib/wiring.ts', async () => {
    // Act
    const queues = await createQueues(sqs(), 'defaults');

    // Assess
    const fanout = await attributesOf(queues.fanout.url);
    expect(fanout.VisibilityTimeout).toBe(String(fanoutVisibilityTimeoutSeconds()));
    expect(JSON.parse(fanout.RedrivePolicy ?? '{}').maxReceiveCount).toBe(
      FANOUT_QUEUE.defaultMaxReceiveCount,
    );
  });
});
