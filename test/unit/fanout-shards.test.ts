import { Logger } from '@aws-lambda-powertools/logger';
import {
  ApiGatewayManagementApiClient,
  ApiGatewayManagementApiServiceException,
  DeleteConnectionCommand,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, type SendMessageBatchCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type FanoutDeps, processFanoutBatch, processRecord } from '../../lambdas/fanout/fanout';
import { processShardBatch, type ShardDeps } from '../../lambdas/fanout/shard';
import { SHARD_ATTRIBUTE } from '../../lambdas/fanout/shard-job';
import { JOB_MAX_BYTES } from '../../lambdas/fanout/split';
import { LIMITS } from '../../shared/limits';
import { createDisconnector, createPoster } from '../../shared/poster';
import type { ChatMessage } from '../../shared/protocol';
import { SHARDS_MARKER, shardKey, shardOf, subscriptionPartition } from '../../shared/store/connections';
import { range } from '../e2e/chat-client';
import { recordingLogger } from '../support/fakes';
import { chatMessage as message } from './fakes/chat-message';

const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);
const api = mockClient(ApiGatewayManagementApiClient);

const TABLES = { connections: 'connections-table', subscriptions: 'subscriptions-table' };
const SHARD_QUEUE_URL = 'https://sqs.local/000000000000/shards';
const SHARDS = LIMITS.subscriptionShards;

const serverError = (): ApiGatewayManagementApiServiceException =>
  new ApiGatewayManagementApiServiceException({
    name: 'InternalServerErrorException',
    $fault: 'server',
    $metadata: { httpStatusCode: 500 },
    message: 'internal error',
  });

function sqsRecord(body: string, messageId: string, shard?: number): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'sender',
      ApproximateFirstReceiveTimestamp: '0',
      MessageGroupId: shard === undefined ? JSON.parse(body).conversationId : shardKey('room', shard),
    },
    messageAttributes:
      shard === undefined
        ? {}
        : {
            [SHARD_ATTRIBUTE]: {
              stringValue: String(shard),
              stringListValues: [],
              binaryListValues: [],
              dataType: 'Number',
            },
          },
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:000000000000:queue',
    awsRegion: 'eu-west-1',
  };
}

/** Partition key → the items a Query of it returns (the marker included, first, as DynamoDB sorts it). */
function givenPartitions(partitions: Record<string, Record<string, unknown>[]>): void {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
    Items: partitions[String(input.ExpressionAttributeValues?.[':c'])] ?? [],
  }));
}

const listeners = (...ids: string[]) =>
  ids.map((connectionId) => ({ connectionId, userId: `u-${connectionId}` }));
const marker = { connectionId: SHARDS_MARKER, shards: SHARDS };

function deps(): FanoutDeps & ShardDeps {
  return {
    ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    sqs: new SQSClient({}),
    tables: TABLES,
    deadLetterQueueUrl: 'https://sqs.local/000000000000/dlq.fifo',
    shardQueueUrl: SHARD_QUEUE_URL,
    post: createPoster({
      client: new ApiGatewayManagementApiClient({}),
      sleep: async () => {},
      random: () => 0.5,
      options: { maxAttempts: 2 },
    }),
    disconnect: createDisconnector(new ApiGatewayManagementApiClient({})),
    metrics: { record: vi.fn() },
    logger: new Logger({ serviceName: 'chat-fanout-test', logLevel: 'SILENT' }),
  };
}

/** The shards of every job sent, in order. */
const jobShards = (): number[] =>
  sqs
    .commandCalls(SendMessageBatchCommand)
    .flatMap((call) => (call.args[0].input as SendMessageBatchCommandInput).Entries ?? [])
    .map((entry) => Number(entry.MessageAttributes?.[SHARD_ATTRIBUTE]?.StringValue));

beforeEach(() => {
  ddb.reset();
  sqs.reset();
  api.reset();
  ddb.on(BatchWriteCommand).resolves({});
  ddb.on(DeleteCommand).resolves({});
  ddb.on(UpdateCommand).resolves({});
  sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  api.on(PostToConnectionCommand).resolves({});
  api.on(DeleteConnectionCommand).resolves({});
});

describe('where a subscription is stored', () => {
  it("keeps a small conversation's subscription in its base partition, after one Query of at most threshold + 1 items", async () => {
    // Prepare
    givenPartitions({ small: listeners('a', 'b') });

    // Act
    const partition = await subscriptionPartition(ddb as never, TABLES, 'small', 'c');

    // Assess
    expect(partition).toBe('small');
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(ddb).toReceiveCommandWith(QueryCommand, { Limit: LIMITS.fanoutShardThreshold + 1 });
    expect(ddb).not.toReceiveCommand(UpdateCommand);
  });

  it('shards a conversation whose base partition is full: writes the marker once, then the hashed shard', async () => {
    // Prepare
    const full = listeners(...Array.from({ length: LIMITS.fanoutShardThreshold }, (_, i) => `c${i}`));
    givenPartitions({ full });

    // Act
    const partition = await subscriptionPartition(ddb as never, TABLES, 'full', 'newcomer');

    // Assess
    expect(partition).toBe(shardKey('full', shardOf('newcomer', SHARDS)));
    expect(ddb).toReceiveCommandWith(UpdateCommand, {
      Key: { conversationId: 'full', connectionId: SHARDS_MARKER },
      UpdateExpression: 'SET shards = :shards',
      ConditionExpression: 'attribute_not_exists(shards)',
      ExpressionAttributeValues: { ':shards': SHARDS },
    });
  });

  it('puts a subscription in its shard when the marker is there, and remembers it: the next costs no call', async () => {
    // Prepare
    givenPartitions({ room: [marker, ...listeners('a')] });

    // Act
    const first = await subscriptionPartition(ddb as never, TABLES, 'room', 'x');
    const second = await subscriptionPartition(ddb as never, TABLES, 'room', 'y');

    // Assess
    expect(first).toBe(shardKey('room', shardOf('x', SHARDS)));
    expect(second).toBe(shardKey('room', shardOf('y', SHARDS)));
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 1);
  });

  it('spreads connections over every shard', () => {
    const shards = new Set(Array.from({ length: 2_000 }, (_, i) => shardOf(`conn-${i}=`, SHARDS)));

    expect([...shards].sort((a, b) => a - b)).toEqual(Array.from({ length: SHARDS }, (_, i) => i + 1));
  });
});

describe('the FIFO consumer', () => {
  it('posts a 3-member group inline: one Query, three posts, no shard job (the same calls as before shards)', async () => {
    // Prepare
    givenPartitions({ group: listeners('a', 'b', 'c') });
    const m = message('group', 1);

    // Act
    await processRecord(deps(), sqsRecord(JSON.stringify(m), 'm1'));

    // Assess
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(api).toHaveReceivedCommandTimes(PostToConnectionCommand, 3);
    expect(sqs).not.toReceiveCommand(SendMessageBatchCommand);
  });

  it('splits a sharded conversation into one job per shard (and the base), 10 per batch, and posts nothing itself', async () => {
    // Prepare
    givenPartitions({ room: [marker, ...listeners('early')] });
    const m = message('room', 9);

    // Act
    await processRecord(deps(), sqsRecord(JSON.stringify(m), 'm1'));

    // Assess
    expect(jobShards()).toEqual(Array.from({ length: SHARDS + 1 }, (_, i) => i));
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, Math.ceil((SHARDS + 1) / 10));
    const input = sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input as SendMessageBatchCommandInput;
    const body = input.Entries?.[0]?.MessageBody;
    expect(JSON.parse(String(body))).toEqual(m);
    expect(input.Entries?.map((entry) => entry.MessageGroupId)).toEqual([
      'room',
      ...range(9).map((shard) => `room#${shard}`),
    ]);
    const dedupIds = input.Entries?.map((entry) => entry.MessageDeduplicationId);
    expect(new Set(dedupIds).size).toBe(10);
    expect(api).not.toReceiveCommand(PostToConnectionCommand);
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 1);
  });

  it("leaves a split record's lag to its shard jobs, which time it when their posts are done", async () => {
    // Prepare
    givenPartitions({ room: [marker], 'room#2': listeners('viewer') });
    const sentAt = Date.parse('2025-01-01T00:00:00.000Z');
    const consumer = { ...deps(), now: () => sentAt + 100 };
    const worker = { ...deps(), now: () => sentAt + 700 };
    const m = message('room', 3);

    // Act
    await processRecord(consumer, sqsRecord(JSON.stringify(m), 'm1'));
    await processShardBatch(worker, { Records: [sqsRecord(JSON.stringify(m), 'job-2', 2)] });

    // Assess
    expect(consumer.metrics.record).not.toHaveBeenCalledWith('fanoutLag', expect.anything());
    expect(worker.metrics.record).toHaveBeenCalledWith('fanoutLag', 700);
  });

  it('leaves out the base partition when only the marker is left in it', async () => {
    givenPartitions({ room: [marker] });

    await processRecord(deps(), sqsRecord(JSON.stringify(message('room', 2)), 'm1'));

    expect(jobShards()).toEqual(Array.from({ length: SHARDS }, (_, i) => i + 1));
  });

  it('splits a run of records into one job per shard holding the run in seq order: the calls of one record, not of three', async () => {
    // Prepare
    givenPartitions({ room: [marker] });
    const run = [5, 6, 7].map((seq) => message('room', seq));

    // Act
    const response = await processFanoutBatch(deps(), {
      Records: run.map((m) => sqsRecord(JSON.stringify(m), `m${m.seq}`)),
    });

    // Assess: 32 jobs in 4 SendMessageBatch calls (one record's count), each job the whole run.
    expect(response.batchItemFailures).toEqual([]);
    expect(jobShards()).toEqual(range(SHARDS));
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, Math.ceil(SHARDS / 10));
    const entries = sqs
      .commandCalls(SendMessageBatchCommand)
      .flatMap((call) => (call.args[0].input as SendMessageBatchCommandInput).Entries ?? []);
    for (const entry of entries) expect(JSON.parse(String(entry.MessageBody))).toEqual(run);
  });

  it('packs a run bigger than a job into several, sent body after body so that each shard gets them in seq order', async () => {
    // Prepare: three records of 30 KiB each; two fit in a 64 KiB job.
    givenPartitions({ room: [marker] });
    const big = (seq: number) => ({ ...message('room', seq), body: 'x'.repeat(30 * 1024) });
    const run = [1, 2, 3].map(big);

    // Act
    await processFanoutBatch(deps(), { Records: run.map((m) => sqsRecord(JSON.stringify(m), `m${m.seq}`)) });

    // Assess
    const bodies = sqs
      .commandCalls(SendMessageBatchCommand)
      .flatMap((call) => (call.args[0].input as SendMessageBatchCommandInput).Entries ?? [])
      .filter((entry) => entry.MessageGroupId === 'room#1')
      .map((entry) => String(entry.MessageBody));
    expect(bodies.map((body) => [JSON.parse(body)].flat().map((m: ChatMessage) => m.seq))).toEqual([
      [1, 2],
      [3],
    ]);
    for (const body of bodies) expect(body.length).toBeLessThanOrEqual(JOB_MAX_BYTES);
  });

  it('sends refused jobs again, and fails the record (for a FIFO retry) when SQS keeps refusing one', async () => {
    // Prepare: shard 3 is refused every time.
    givenPartitions({ room: [marker] });
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
      Successful: [],
      Failed: (input.Entries ?? [])
        .filter((entry) => entry.Id === '3')
        .map((entry) => ({ Id: entry.Id, Code: 'InternalError', SenderFault: false })),
    }));

    // Act
    const attempt = processRecord(deps(), sqsRecord(JSON.stringify(message('room', 2)), 'm1'));

    // Assess
    await expect(attempt).rejects.toThrow('1 of 32 shard jobs of conversation room seq 2 could not be sent');
    expect(jobShards().filter((shard) => shard === 3)).toHaveLength(3);
  });
});

describe('the shard worker', () => {
  const m = message('room', 4);
  const job = (shard: number, id = `job-${shard}`) => sqsRecord(JSON.stringify(m), id, shard);

  it("posts one shard's connections, read with one consistent Query of that shard's partition", async () => {
    // Prepare
    givenPartitions({ 'room#5': listeners('s5a', 's5b') });

    // Act
    const response = await processShardBatch(deps(), { Records: [job(5)] });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(ddb).toReceiveCommandWith(QueryCommand, {
      ExpressionAttributeValues: { ':c': 'room#5' },
      ConsistentRead: true,
    });
    expect(api.commandCalls(PostToConnectionCommand).map((call) => call.args[0].input.ConnectionId)).toEqual([
      's5a',
      's5b',
    ]);
  });

  it('logs a shard job that reached every connection at DEBUG, not INFO, as the fan-out logs its records', async () => {
    // Prepare
    givenPartitions({ 'room#5': listeners('s5a') });
    const logger = recordingLogger();

    // Act
    await processShardBatch({ ...deps(), logger }, { Records: [job(5)] });

    // Assess
    expect(logger.info).not.toHaveBeenCalled();
    expect(logger.debug).toHaveBeenCalledWith(
      'Shard fanned out',
      expect.objectContaining({ shard: 5, delivered: 1 }),
    );
  });

  it('coalesces the jobs of one shard in a batch: one Query, and one batch frame per connection, in seq order', async () => {
    // Prepare
    givenPartitions({ 'room#3': listeners('viewer') });
    const jobs = [4, 5, 6].map((seq) => sqsRecord(JSON.stringify(message('room', seq)), `job-${seq}`, 3));

    // Act
    const response = await processShardBatch(deps(), { Records: jobs });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(api).toHaveReceivedCommandTimes(PostToConnectionCommand, 1);
    const posted = JSON.parse(String(api.commandCalls(PostToConnectionCommand)[0]?.args[0].input.Data)) as {
      type: string;
      frames: ChatMessage[];
    };
    expect(posted.type).toBe('batch');
    expect(posted.frames.map((frame) => frame.seq)).toEqual([4, 5, 6]);
  });

  it("leaves a message out of its sender's batch: the sending connection has it from its ack", async () => {
    // Prepare
    givenPartitions({ 'room#3': listeners('sender', 'viewer') });
    const jobs = [4, 5].map((seq) =>
      sqsRecord(
        JSON.stringify({ ...message('room', seq), ...(seq === 4 ? { senderConnectionId: 'sender' } : {}) }),
        `job-${seq}`,
        3,
      ),
    );

    // Act
    await processShardBatch(deps(), { Records: jobs });

    // Assess
    const byConnection = Object.fromEntries(
      api
        .commandCalls(PostToConnectionCommand)
        .map((call) => [
          call.args[0].input.ConnectionId,
          JSON.parse(String(call.args[0].input.Data)) as { type: string; seq?: number },
        ]),
    );
    expect(byConnection.sender).toMatchObject({ type: 'message', seq: 5 });
    expect(byConnection.viewer).toMatchObject({ type: 'batch' });
  });

  it('fails the later jobs of a failed shard with it, so a retry never reorders them', async () => {
    // Prepare: shard 3's viewer is throttled; its job for seq 6 cannot be read.
    givenPartitions({ 'room#3': listeners('viewer'), 'room#4': listeners('other') });
    api
      .on(PostToConnectionCommand, { ConnectionId: 'viewer' })
      .rejects(new LimitExceededException({ message: 'throttled', $metadata: {} }));
    const jobs = [4, 5].map((seq) => sqsRecord(JSON.stringify(message('room', seq)), `job-${seq}`, 3));
    const d = deps();

    // Act
    const response = await processShardBatch(d, { Records: [...jobs, job(4, 'other-shard')] });

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'job-4' }, { itemIdentifier: 'job-5' }]);
    expect(api).toReceiveCommandWith(PostToConnectionCommand, { ConnectionId: 'other' });
    expect(d.metrics.record).toHaveBeenCalledWith('fanoutFailures', 1);
  });

  it('runs the jobs of a shard before an unreadable one, and fails it with the rest of its shard', async () => {
    // Prepare
    givenPartitions({ 'room#3': listeners('viewer') });
    const readable = sqsRecord(JSON.stringify(message('room', 4)), 'job-4', 3);
    const unreadable = { ...sqsRecord(JSON.stringify(message('room', 5)), 'job-5', 3), body: '{}' };
    const after = sqsRecord(JSON.stringify(message('room', 6)), 'job-6', 3);

    // Act
    const response = await processShardBatch(deps(), { Records: [readable, unreadable, after] });

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'job-5' }, { itemIdentifier: 'job-6' }]);
    expect(api).toReceiveCommandWith(PostToConnectionCommand, { ConnectionId: 'viewer' });
  });

  it('reports only the failed job of a batch for retry: the other shards are done', async () => {
    // Prepare: shard 1's only connection is throttled; shard 2's is fine.
    givenPartitions({ 'room#1': listeners('slow'), 'room#2': listeners('fine') });
    api
      .on(PostToConnectionCommand, { ConnectionId: 'slow' })
      .rejects(new LimitExceededException({ message: 'throttled', $metadata: {} }));
    const d = deps();

    // Act
    const response = await processShardBatch(d, { Records: [job(1), job(2)] });

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'job-1' }]);
    expect(d.metrics.record).toHaveBeenCalledWith('fanoutFailures', 1);
  });

  it('evicts a connection that keeps failing while its shard-mates are reached, and deletes its subscription in that shard', async () => {
    // Prepare
    givenPartitions({ 'room#7': listeners('ok', 'broken') });
    api.on(PostToConnectionCommand, { ConnectionId: 'broken' }).rejects(serverError());

    // Act
    const response = await processShardBatch(deps(), { Records: [job(7)] });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(api).toReceiveCommandWith(DeleteConnectionCommand, { ConnectionId: 'broken' });
    expect(ddb).toReceiveCommandWith(BatchWriteCommand, {
      RequestItems: {
        [TABLES.subscriptions]: [
          { DeleteRequest: { Key: { conversationId: 'room#7', connectionId: 'broken' } } },
        ],
      },
    });
  });

  it('posts a job that holds a run as one batch frame per connection, in seq order', async () => {
    // Prepare
    givenPartitions({ 'room#3': listeners('viewer') });
    const packed = sqsRecord(JSON.stringify([7, 8, 9].map((seq) => message('room', seq))), 'packed', 3);

    // Act
    const response = await processShardBatch(deps(), { Records: [packed] });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(api).toHaveReceivedCommandTimes(PostToConnectionCommand, 1);
    const posted = JSON.parse(String(api.commandCalls(PostToConnectionCommand)[0]?.args[0].input.Data)) as {
      frames: ChatMessage[];
    };
    expect(posted.frames.map((frame) => frame.seq)).toEqual([7, 8, 9]);
  });

  it('fails a job it cannot read on every receive, so the redrive policy moves it to the shard DLQ', async () => {
    // Prepare: no shard attribute, and a body that is no record.
    givenPartitions({});
    const noShard = sqsRecord(JSON.stringify(m), 'no-shard');
    const garbage = { ...job(1, 'garbage'), body: '{"conversationId":"room"}' };
    const badRun = { ...job(4, 'bad-run'), body: `[${JSON.stringify(m)},{"conversationId":"room"}]` };
    const emptyRun = { ...job(5, 'empty-run'), body: '[]' };

    // Act
    const response = await processShardBatch(deps(), {
      Records: [noShard, garbage, job(2, 'fine'), badRun, emptyRun],
    });

    // Assess
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: 'no-shard' },
      { itemIdentifier: 'garbage' },
      { itemIdentifier: 'bad-run' },
      { itemIdentifier: 'empty-run' },
    ]);
  });
});
