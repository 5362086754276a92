/**
 * The fan-out's time budget: a record starts no post later than POST_WORST_CASE_MS + RECORD_MARGIN_MS
 * before the invocation's end, so one conversation with more connections than fit (or slow, hostile
 * ones) fails alone and is reported for redelivery, while the other groups of the batch complete.
 * A fake clock stands for time: each post to a slow conversation's connection takes a second of it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import {
  type FanoutDeps,
  POST_WORST_CASE_MS,
  processFanoutBatch,
  RECORD_MARGIN_MS,
} from '../../lambdas/fanout/fanout';
import type { PostFn } from '../../shared/poster';
import type { ChatMessage } from '../../shared/protocol';

const message = (conversationId: string, seq: number): ChatMessage => ({
  conversationId,
  seq,
  senderId: 'alice',
  body: `hello ${seq}`,
  sentAt: '2025-01-01T00:00:00.000Z',
});

const recordOf = (m: ChatMessage, messageId: string): SQSRecord =>
  ({
    messageId,
    body: JSON.stringify(m),
    attributes: { MessageGroupId: m.conversationId, MessageDeduplicationId: messageId },
    messageAttributes: {},
  }) as unknown as SQSRecord;

const ddbMock = mockClient(DynamoDBDocumentClient);

/** A conversation's subscribers as the fan-out's Query reads them. */
function fakeDdb(subscribers: Record<string, string[]>): FanoutDeps['ddb'] {
  ddbMock.reset();
  ddbMock.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    const conversationId = String(input.ExpressionAttributeValues?.[':c']);
    return { Items: (subscribers[conversationId] ?? []).map((connectionId) => ({ connectionId })) };
  });
  return DynamoDBDocumentClient.from(new DynamoDBClient({}));
}

describe('the fan-out time budget', () => {
  it('reports a slow conversation for redelivery alone, while the other conversation of the batch completes', async () => {
    // Prepare: the invocation has 20 s left; posts to "slow" take 1 s of the clock each, so only the
    // first few of its 50 connections start before its deadline; "quick" has two connections.
    let clock = 0;
    const remainingAtStart = 20_000;
    const slow = Array.from({ length: 50 }, (_, n) => `slow-${n}`);
    const post = vi.fn<PostFn>(async (connectionId) => {
      if (connectionId.startsWith('slow-')) clock += 1_000;
      return { status: 'delivered', attempts: 1 };
    });
    const metrics = { record: vi.fn() };
    const deps: FanoutDeps = {
      ddb: fakeDdb({ slow, quick: ['quick-1', 'quick-2'] }),
      sqs: { send: vi.fn() },
      tables: { connections: 'connections', subscriptions: 'subscriptions' },
      deadLetterQueueUrl: 'dlq',
      post,
      disconnect: vi.fn(),
      logger: new Logger({ serviceName: 'fanout-deadline-test', logLevel: 'SILENT' }),
      metrics,
      concurrency: 1,
      now: () => clock,
      remainingTimeMs: () => remainingAtStart - clock,
      recordBudgetMs: 15_000,
    };

    // Act
    const response = await processFanoutBatch(deps, {
      Records: [
        recordOf(message('slow', 1), 's1'),
        recordOf(message('quick', 1), 'q1'),
        recordOf(message('slow', 2), 's2'),
      ],
    });

    // Assess: the slow group's records fail (the second is never started); quick's went out.
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 's1' }, { itemIdentifier: 's2' }]);
    const postedTo = post.mock.calls.map(([connectionId]) => connectionId);
    expect(postedTo).toEqual(expect.arrayContaining(['quick-1', 'quick-2']));
    const window = remainingAtStart - POST_WORST_CASE_MS - RECORD_MARGIN_MS;
    expect(postedTo.filter((id) => id.startsWith('slow-'))).toHaveLength(window / 1_000);
    // Only s1 failed; s2 was held back behind it.
    expect(metrics.record).toHaveBeenCalledWith('fanoutFailures', 1);
  });

  it('delivers every connection when they fit in the time left', async () => {
    // Prepare
    let clock = 0;
    const post = vi.fn<PostFn>(async () => {
      clock += 100;
      return { status: 'delivered', attempts: 1 };
    });
    const deps: FanoutDeps = {
      ddb: fakeDdb({ c: ['a', 'b', 'c'] }),
      sqs: { send: vi.fn() },
      tables: { connections: 'connections', subscriptions: 'subscriptions' },
      deadLetterQueueUrl: 'dlq',
      post,
      disconnect: vi.fn(),
      logger: new Logger({ serviceName: 'fanout-deadline-test', logLevel: 'SILENT' }),
      metrics: { record: vi.fn() },
      now: () => clock,
      remainingTimeMs: () => 29_000 - clock,
    };

    // Act
    const response = await processFanoutBatch(deps, { Records: [recordOf(message('c', 1), 'c1')] });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(post).toHaveBeenCalledTimes(3);
  });
});
