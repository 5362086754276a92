/**
 * A sharded conversation keeps the shard count its marker was written with: every reader takes it from
 * the marker, so a deploy that changes LIMITS.subscriptionShards cannot strand subscriptions in shards
 * the fan-out never reads. Here the markers say 8 while LIMITS says 32.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, type SendMessageBatchCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type FanoutDeps, processRecord } from '../../lambdas/fanout/fanout';
import { SHARD_ATTRIBUTE } from '../../lambdas/fanout/shard-job';
import { LIMITS } from '../../shared/limits';
import { createDisconnector, createPoster } from '../../shared/poster';
import {
  deleteSubscription,
  SHARDS_MARKER,
  shardKey,
  shardOf,
  subscriptionPartition,
} from '../../shared/store/connections';

const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const TABLES = { connections: 'connections-table', subscriptions: 'subscriptions-table' };
const MARKED = 8;
const marker = { connectionId: SHARDS_MARKER, shards: MARKED };

/** A connection id whose shard under 8 differs from its shard under LIMITS, so the count shows. */
function movedConnection(prefix: string): string {
  for (let i = 0; ; i++) {
    const id = `${prefix}-${i}=`;
    if (shardOf(id, MARKED) !== shardOf(id, LIMITS.subscriptionShards)) return id;
  }
}

/** Partition key → the items a Query of it returns (the marker first, as DynamoDB sorts it). */
function givenPartitions(partitions: Record<string, Record<string, unknown>[]>): void {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
    Items: partitions[String(input.ExpressionAttributeValues?.[':c'])] ?? [],
  }));
}

const shardNumber = (partition: string): number => Number(partition.split('#')[1] ?? 0);

beforeEach(() => {
  ddb.reset();
  sqs.reset();
  ddb.on(DeleteCommand).resolves({});
  sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

describe('subscribe, in a conversation sharded under another count', () => {
  it("places connections in the marker's 8 shards, not in LIMITS' 32", async () => {
    // Prepare
    expect(LIMITS.subscriptionShards).not.toBe(MARKED);
    givenPartitions({ read8: [marker] });
    const moved = movedConnection('read');

    // Act
    const first = await subscriptionPartition(client, TABLES, 'read8', moved);
    const rest = await Promise.all(
      Array.from({ length: 200 }, (_, i) => subscriptionPartition(client, TABLES, 'read8', `c${i}=`)),
    );

    // Assess
    expect(first).toBe(shardKey('read8', shardOf(moved, MARKED)));
    const shards = new Set(rest.map(shardNumber));
    expect([...shards].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ddb).not.toReceiveCommand(UpdateCommand);
  });

  it('takes the count of the marker another subscribe wrote first, read back after its UpdateItem loses', async () => {
    // Prepare: a full base partition with no marker yet; the UpdateItem finds one written meanwhile with 8.
    const full = Array.from({ length: LIMITS.fanoutShardThreshold }, (_, i) => ({ connectionId: `c${i}` }));
    givenPartitions({ race8: full });
    ddb.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'marker', $metadata: {} }));
    ddb.on(GetCommand).resolves({ Item: { shards: MARKED } });
    const moved = movedConnection('race');

    // Act
    const partition = await subscriptionPartition(client, TABLES, 'race8', moved);

    // Assess
    expect(partition).toBe(shardKey('race8', shardOf(moved, MARKED)));
    expect(ddb).toReceiveCommandWith(GetCommand, {
      TableName: TABLES.subscriptions,
      Key: { conversationId: 'race8', connectionId: SHARDS_MARKER },
      ConsistentRead: true,
    });
  });
});

describe('unsubscribe, in a conversation sharded under another count', () => {
  /** The partitions each UpdateItem took out of the connection's set. */
  const removedFromSet = (): string[][] =>
    ddb.commandCalls(UpdateCommand).map((call) => {
      const values = (call.args[0].input as UpdateCommandInput).ExpressionAttributeValues;
      return [...((values?.[':partitions'] ?? []) as Iterable<string>)];
    });

  it("finds the subscription in its shard under the marker's count, without reading the marker", async () => {
    // Prepare: this environment has read the marker (8) while subscribing.
    givenPartitions({ known8: [marker] });
    const moved = movedConnection('known');
    await subscriptionPartition(client, TABLES, 'known8', moved);
    ddb.resetHistory();
    const shard = shardKey('known8', shardOf(moved, MARKED));
    ddb.on(UpdateCommand).resolves({ Attributes: { conversations: new Set([shard]) } });

    // Act
    await deleteSubscription(client, TABLES, { conversationId: 'known8', connectionId: moved });

    // Assess: two calls, as before shards.
    expect(removedFromSet()).toEqual([['known8', shard]]);
    expect(ddb.calls().map((call) => call.args[0].constructor.name)).toEqual([
      'UpdateCommand',
      'DeleteCommand',
    ]);
    expect(ddb).toReceiveCommandWith(DeleteCommand, { Key: { conversationId: shard, connectionId: moved } });
  });

  it('takes the shard the old set names when this environment has not read the marker', async () => {
    // Prepare
    const moved = movedConnection('leave');
    const shard = shardKey('leave8', shardOf(moved, MARKED));
    ddb.on(UpdateCommand).resolves({ Attributes: { conversations: new Set(['other', shard]) } });

    // Act
    await deleteSubscription(client, TABLES, { conversationId: 'leave8', connectionId: moved });

    // Assess: the base partition first, then the shard the set held.
    expect(removedFromSet()).toEqual([['leave8'], [shard]]);
    expect(ddb).not.toReceiveCommand(GetCommand);
    expect(ddb).toHaveReceivedCommandTimes(DeleteCommand, 1);
    expect(ddb).toReceiveCommandWith(DeleteCommand, { Key: { conversationId: shard, connectionId: moved } });
  });

  it('costs the two calls it always did for a subscription in the base partition', async () => {
    // Prepare
    ddb.on(UpdateCommand).resolves({ Attributes: { conversations: new Set(['small8']) } });

    // Act
    await deleteSubscription(client, TABLES, { conversationId: 'small8', connectionId: 'c1' });

    // Assess
    expect(ddb.calls().map((call) => call.args[0].constructor.name)).toEqual([
      'UpdateCommand',
      'DeleteCommand',
    ]);
  });

  it("deletes both candidates, the shard under the marker's count, when the connection is gone", async () => {
    // Prepare
    const moved = movedConnection('gone');
    ddb.on(GetCommand).resolves({ Item: { shards: MARKED } });
    ddb.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'gone', $metadata: {} }));

    // Act
    await deleteSubscription(client, TABLES, { conversationId: 'gone8', connectionId: moved });

    // Assess
    const deleted = ddb.commandCalls(DeleteCommand).map((call) => call.args[0].input.Key?.conversationId);
    expect(deleted.sort()).toEqual(['gone8', shardKey('gone8', shardOf(moved, MARKED))].sort());
  });
});

describe('the FIFO consumer, in a conversation sharded under another count', () => {
  it("splits a record into the marker's 8 jobs, not LIMITS' 32", async () => {
    // Prepare: only the marker is left in the base partition.
    givenPartitions({ split8: [marker] });
    const body = JSON.stringify({
      conversationId: 'split8',
      seq: 1,
      senderId: 'alice',
      body: 'hello',
      sentAt: '2025-01-01T00:00:00.000Z',
    });
    const deps: FanoutDeps = {
      ddb: client,
      sqs: new SQSClient({}),
      tables: TABLES,
      deadLetterQueueUrl: 'https://sqs.local/000000000000/dlq.fifo',
      shardQueueUrl: 'https://sqs.local/000000000000/shards.fifo',
      post: createPoster({
        client: new ApiGatewayManagementApiClient({}),
        sleep: async () => {},
        random: () => 0.5,
      }),
      disconnect: createDisconnector(new ApiGatewayManagementApiClient({})),
      metrics: { record: vi.fn() },
      logger: new Logger({ serviceName: 'chat-fanout-test', logLevel: 'SILENT' }),
    };
    const record = {
      messageId: 'm1',
      receiptHandle: 'rh-m1',
      body,
      attributes: { ApproximateReceiveCount: '1', MessageGroupId: 'split8' },
      messageAttributes: {},
    } as unknown as SQSRecord;

    // Act
    await processRecord(deps, record);

    // Assess
    const jobs = sqs
      .commandCalls(SendMessageBatchCommand)
      .flatMap((call) => (call.args[0].input as SendMessageBatchCommandInput).Entries ?? [])
      .map((entry) => Number(entry.MessageAttributes?.[SHARD_ATTRIBUTE]?.StringValue));
    expect(jobs).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
