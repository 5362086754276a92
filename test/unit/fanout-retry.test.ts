/**
 * A fan-out that recovers in seconds: the batch stops before the function's timeout and reports what is
 * unfinished, and the failed records' visibility is shortened by a backoff on their receive count (one
 * ChangeMessageVisibilityBatch per failed batch, none on the happy path), on the fan-out queue and the
 * shard queue alike.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityBatchCommand,
  type ChangeMessageVisibilityBatchCommandInput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type FanoutDeps, processFanoutBatch } from '../../lambdas/fanout/fanout';
import { STOP_MARGIN_MS } from '../../lambdas/fanout/groups';
import { RETRY_MAX_DELAY_SECONDS, retryDelaySeconds } from '../../lambdas/fanout/retry';
import { processShardBatch } from '../../lambdas/fanout/shard';
import { SHARD_ATTRIBUTE } from '../../lambdas/fanout/shard-job';
import type { PostFn } from '../../shared/poster';
import type { ChatMessage } from '../../shared/protocol';

const FANOUT_QUEUE_URL = 'https://sqs.local/000000000000/fanout.fifo';
const SHARD_QUEUE_URL = 'https://sqs.local/000000000000/shards.fifo';

const message = (conversationId: string, seq: number): ChatMessage => ({
  conversationId,
  seq,
  senderId: 'alice',
  body: `hello ${seq}`,
  sentAt: '2025-01-01T00:00:00.000Z',
});

const recordOf = (m: ChatMessage, messageId: string, receiveCount = 1, shard?: number): SQSRecord =>
  ({
    messageId,
    receiptHandle: `handle-${messageId}`,
    body: JSON.stringify(m),
    attributes: {
      MessageGroupId: shard === undefined ? m.conversationId : `${m.conversationId}#${shard}`,
      MessageDeduplicationId: messageId,
      ApproximateReceiveCount: String(receiveCount),
    },
    messageAttributes:
      shard === undefined ? {} : { [SHARD_ATTRIBUTE]: { stringValue: String(shard), dataType: 'Number' } },
  }) as unknown as SQSRecord;

const ddbMock = mockClient(DynamoDBDocumentClient);
const sqsMock = mockClient(SQSClient);

/** Subscribers per conversation; a conversation named `hang` never gets its Query answered. */
function fakeDdb(subscribers: Record<string, string[]>): FanoutDeps['ddb'] {
  ddbMock.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    const partition = String(input.ExpressionAttributeValues?.[':c']);
    if (partition.startsWith('hang')) return new Promise(() => undefined);
    return { Items: (subscribers[partition] ?? []).map((connectionId) => ({ connectionId })) };
  });
  return DynamoDBDocumentClient.from(new DynamoDBClient({}));
}

/** Posts to connections whose id starts with `down` are throttled: API Gateway in trouble. */
const post = vi.fn<PostFn>(async (connectionId) =>
  connectionId.startsWith('down')
    ? { status: 'failed', attempts: 4, retryable: true, throttled: true, error: new Error('throttled') }
    : { status: 'delivered', attempts: 1 },
);

function depsWith(subscribers: Record<string, string[]>, overrides: Partial<FanoutDeps> = {}): FanoutDeps {
  return {
    ddb: fakeDdb(subscribers),
    sqs: new SQSClient({}),
    tables: { connections: 'connections', subscriptions: 'subscriptions' },
    deadLetterQueueUrl: 'dlq',
    fanoutQueueUrl: FANOUT_QUEUE_URL,
    post,
    disconnect: vi.fn(),
    logger: new Logger({ serviceName: 'fanout-retry-test', logLevel: 'SILENT' }),
    metrics: { record: vi.fn() },
    remainingTimeMs: () => 29_000,
    ...overrides,
  };
}

const visibilityChanges = () =>
  sqsMock
    .commandCalls(ChangeMessageVisibilityBatchCommand)
    .map((call) => call.args[0].input as ChangeMessageVisibilityBatchCommandInput);

beforeEach(() => {
  ddbMock.reset();
  sqsMock.reset();
  post.mockClear();
  sqsMock.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
});

describe('the retry backoff', () => {
  it('hides a failed record 1, 2, 4, then at most 8 s, by how often it was received', () => {
    expect([1, 2, 3, 4, 5, 30].map(retryDelaySeconds)).toEqual([1, 2, 4, 8, 8, 8]);
    expect(RETRY_MAX_DELAY_SECONDS).toBe(8);
    expect(retryDelaySeconds(Number('not a count'))).toBe(1);
  });
});

describe('a failed fan-out record', () => {
  it('comes back in seconds: one visibility change for the failed run and the rest of its group, by receive count', async () => {
    // Prepare: "down"'s connection is throttled; "up" is fine
    const deps = depsWith({ down: ['down-1'], up: ['up-1'] });

    // Act
    const response = await processFanoutBatch(deps, {
      Records: [
        recordOf(message('down', 1), 'd1', 3),
        recordOf(message('up', 1), 'u1'),
        recordOf(message('down', 2), 'd2', 1),
      ],
    });

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'd1' }, { itemIdentifier: 'd2' }]);
    expect(visibilityChanges()).toEqual([
      {
        QueueUrl: FANOUT_QUEUE_URL,
        Entries: [
          { Id: '0', ReceiptHandle: 'handle-d1', VisibilityTimeout: 4 },
          { Id: '1', ReceiptHandle: 'handle-d2', VisibilityTimeout: 1 },
        ],
      },
    ]);
  });

  it('costs no call on the happy path: no visibility change when every record went out', async () => {
    // Prepare
    const deps = depsWith({ up: ['up-1', 'up-2'] });

    // Act
    const response = await processFanoutBatch(deps, {
      Records: [recordOf(message('up', 1), 'u1'), recordOf(message('up', 2), 'u2')],
    });

    // Assess: one Query and one post per connection, nothing sent to SQS
    expect(response.batchItemFailures).toEqual([]);
    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(1);
    expect(post).toHaveBeenCalledTimes(2);
    expect(sqsMock.calls()).toHaveLength(0);
  });

  it('keeps its failure when the visibility change fails: the record comes back after the visibility timeout', async () => {
    // Prepare
    sqsMock.on(ChangeMessageVisibilityBatchCommand).rejects(new Error('SQS is down too'));
    const deps = depsWith({ down: ['down-1'] });

    // Act
    const response = await processFanoutBatch(deps, { Records: [recordOf(message('down', 1), 'd1')] });

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'd1' }]);
    expect(visibilityChanges()).toHaveLength(1);
  });
});

describe('a batch that runs out of time', () => {
  it('stops before the function timeout and reports the unfinished group, while the others complete', async () => {
    // Prepare: hang's Query never answers (a frozen DynamoDB); the invocation has 300 ms beyond the
    // margin, too little for any post, so "up" is a conversation nobody listens to.
    const metrics = { record: vi.fn() };
    const deps = depsWith(
      { up: [] },
      { remainingTimeMs: () => STOP_MARGIN_MS + 300, recordBudgetMs: 0, metrics },
    );
    const startedAt = Date.now();

    // Act
    const response = await processFanoutBatch(deps, {
      Records: [
        recordOf(message('hang', 1), 'h1', 2),
        recordOf(message('up', 1), 'u1'),
        recordOf(message('hang', 2), 'h2', 2),
      ],
    });

    // Assess: back well before the function's end, the hung group failed and coming back in 2 s
    expect(Date.now() - startedAt).toBeLessThan(STOP_MARGIN_MS);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'h1' }, { itemIdentifier: 'h2' }]);
    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(2);
    expect(metrics.record).toHaveBeenCalledWith('fanoutFailures', 1);
    expect(visibilityChanges()[0]?.Entries).toEqual([
      { Id: '0', ReceiptHandle: 'handle-h1', VisibilityTimeout: 2 },
      { Id: '1', ReceiptHandle: 'handle-h2', VisibilityTimeout: 2 },
    ]);
  });
});

describe('a failed shard job', () => {
  it('comes back in seconds too: one visibility change on the shard queue', async () => {
    // Prepare: shard 1 of "down" has a throttled connection, shard 2 of "up" is fine
    const deps = { ...depsWith({ 'down#1': ['down-1'], 'up#2': ['up-1'] }), shardQueueUrl: SHARD_QUEUE_URL };

    // Act
    const response = await processShardBatch(deps, {
      Records: [recordOf(message('down', 1), 'j1', 4, 1), recordOf(message('up', 1), 'j2', 1, 2)],
    });

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'j1' }]);
    expect(visibilityChanges()).toEqual([
      { QueueUrl: SHARD_QUEUE_URL, Entries: [{ Id: '0', ReceiptHandle: 'handle-j1', VisibilityTimeout: 8 }] },
    ]);
  });
});
