/**
 * What the fan-out tells CloudWatch: connections it let go of, each record's lag, and the records a
 * batch reports failed. The metrics are EMF log lines, so recording them adds no AWS call.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type FanoutDeps, processFanoutBatch, processRecord } from '../../lambdas/fanout/fanout';
import { createMetrics, METRIC, metricSinkOf } from '../../shared/metrics';
import { createPoster, type PostResult } from '../../shared/poster';
import type { QueueRecord } from '../../shared/queue-body';

const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);
const api = mockClient(ApiGatewayManagementApiClient);

const EVENT_TIME = '2025-01-01T00:00:00.000Z';
/** The fan-out's clock: 1.5 s after every record's event time. */
const NOW = Date.parse(EVENT_TIME) + 1_500;

const failed = (throttled: boolean): PostResult => ({
  status: 'failed',
  attempts: 3,
  retryable: true,
  throttled,
  error: new Error('post failed'),
});
const OUTCOMES: Record<string, PostResult> = {
  gone: { status: 'gone', attempts: 1 },
  failing: failed(false),
  throttled: failed(true),
};

/** Answers a post to `gone-1`, `failing-1` or `throttled-1` as the name says, any other as delivered. */
const post = async (connectionId: string): Promise<PostResult> =>
  OUTCOMES[connectionId.replace(/-\d+$/, '')] ?? { status: 'delivered', attempts: 1 };

function fanoutRecord(body: QueueRecord, messageId: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body: JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'sender',
      ApproximateFirstReceiveTimestamp: '0',
      MessageGroupId: body.conversationId,
      MessageDeduplicationId: messageId,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:000000000000:fanout.fifo',
    awsRegion: 'eu-west-1',
  };
}

const message = (conversationId: string, seq: number): QueueRecord => ({
  conversationId,
  seq,
  senderId: 'alice',
  body: `hello ${seq}`,
  sentAt: EVENT_TIME,
});

function givenListeners(byConversation: Record<string, string[]>): void {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
    Items: (byConversation[String(input.ExpressionAttributeValues?.[':c'])] ?? []).map((connectionId) => ({
      connectionId,
    })),
  }));
}

function makeDeps(overrides: Partial<FanoutDeps> = {}): FanoutDeps {
  return {
    ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    sqs: new SQSClient({}),
    tables: { connections: 'connections-table', subscriptions: 'subscriptions-table' },
    deadLetterQueueUrl: 'https://sqs.local/000000000000/fanout-dlq.fifo',
    post,
    disconnect: async () => {},
    logger: new Logger({ serviceName: 'chat-fanout-test', logLevel: 'SILENT' }),
    metrics: { record: vi.fn() },
    now: () => NOW,
    ...overrides,
  };
}

beforeEach(() => {
  ddb.reset();
  sqs.reset();
  api.reset();
  ddb.on(DeleteCommand).resolves({});
  ddb.on(BatchWriteCommand).resolves({});
  api.on(PostToConnectionCommand).resolves({});
});

describe('fan-out metrics', () => {
  it('counts every connection it let go of, after a 410 or for failing while others were reached', async () => {
    // Prepare
    givenListeners({ 'conv-a': ['ok-1', 'gone-1', 'gone-2', 'failing-1'] });
    const metrics = { record: vi.fn() };

    // Act
    await processRecord(makeDeps({ metrics }), fanoutRecord(message('conv-a', 1), 'm1'));

    // Assess
    expect(metrics.record).toHaveBeenCalledWith('connectionsEvicted', 3);
  });

  it('counts the connections answered 410 even when the record fails and is retried', async () => {
    // Prepare: throttling fails the record for SQS to retry.
    givenListeners({ 'conv-a': ['ok-1', 'gone-1', 'throttled-1'] });
    const metrics = { record: vi.fn() };

    // Act
    const outcome = processRecord(makeDeps({ metrics }), fanoutRecord(message('conv-a', 1), 'm1'));

    // Assess
    await expect(outcome).rejects.toThrow();
    expect(metrics.record.mock.calls).toEqual([['connectionsEvicted', 1]]);
  });

  it.each<[string, QueueRecord]>([
    ['a message from its sentAt', message('conv-a', 1)],
    [
      'an edit from its editedAt',
      { kind: 'edit', conversationId: 'conv-a', seq: 1, body: 'hi', editedAt: EVENT_TIME, version: 2 },
    ],
    [
      'a delete from its deletedAt',
      { kind: 'delete', conversationId: 'conv-a', seq: 1, deletedAt: EVENT_TIME, version: 2 },
    ],
    [
      'a membership change from its at',
      {
        kind: 'membership',
        conversationId: 'conv-a',
        seq: 2,
        event: 'member_added',
        userIds: ['bob'],
        by: 'alice',
        at: EVENT_TIME,
      },
    ],
  ])('times the fan-out of %s to its last post', async (_case, body) => {
    // Prepare
    givenListeners({ 'conv-a': ['ok-1', 'ok-2'] });
    const metrics = { record: vi.fn() };

    // Act
    await processRecord(makeDeps({ metrics }), fanoutRecord(body, 'r1'));

    // Assess
    expect(metrics.record.mock.calls).toEqual([['fanoutLag', 1_500]]);
  });

  it('counts only the records whose own processing failed, not the rest of their group held back behind them, and times only the delivered', async () => {
    // Prepare: conv-a reaches nobody, so its first record fails and takes the second with it.
    givenListeners({ 'conv-a': ['failing-1'], 'conv-b': ['ok-1'] });
    const metrics = { record: vi.fn() };
    const batch = [
      fanoutRecord(message('conv-a', 1), 'a1'),
      fanoutRecord(message('conv-b', 1), 'b1'),
      fanoutRecord(message('conv-a', 2), 'a2'),
    ];

    // Act
    const response = await processFanoutBatch(makeDeps({ metrics }), { Records: batch });

    // Assess
    expect(response.batchItemFailures).toHaveLength(2);
    expect(metrics.record.mock.calls).toEqual([
      ['fanoutLag', 1_500],
      ['fanoutFailures', 1],
    ]);
  });

  it('adds no AWS call: one Query and one post per subscriber, the metrics going to the log', async () => {
    // Prepare
    givenListeners({ 'conv-a': ['conn-1', 'conn-2', 'conn-3'] });
    const metrics = createMetrics('chat-fanout-test');
    const deps = makeDeps({
      metrics: metricSinkOf(metrics),
      post: createPoster({
        client: new ApiGatewayManagementApiClient({}),
        sleep: async () => {},
        random: () => 0.5,
      }),
    });

    // Act
    await processFanoutBatch(deps, { Records: [fanoutRecord(message('conv-a', 1), 'm1')] });

    // Assess
    expect(ddb.calls().map((call) => call.args[0].constructor.name)).toEqual(['QueryCommand']);
    expect(api.calls()).toHaveLength(3);
    expect(sqs.calls()).toHaveLength(0);
    expect(metrics.serializeMetrics()).toMatchObject({ [METRIC.fanoutLag.name]: 1_500 });
  });
});
