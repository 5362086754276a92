/**
 * What a stopped fan-out batch leaves behind: nothing. Its unfinished work runs on in the background (on
 * Lambda a frozen environment resumes it during a later invocation), but every AWS call it would still
 * make is refused, so nothing of it lands behind the record's retry. A real guarded client, answered by an
 * interceptor (shared/invocation.ts) instead of a service; its answers skip the document client's
 * unmarshalling, so the Query's items are written as the document client returns them.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { processFanoutBatch } from '../../lambdas/fanout/fanout';
import { STOP_MARGIN_MS } from '../../lambdas/fanout/groups';
import { interceptAwsCalls } from '../../shared/invocation';
import type { PostFn } from '../../shared/poster';
import { guarded, recordingLogger, UNREACHABLE_AWS } from '../support/fakes';

const record = {
  messageId: 'm1',
  receiptHandle: 'h1',
  body: JSON.stringify({
    conversationId: 'c',
    seq: 1,
    senderId: 'a',
    body: 'hi',
    sentAt: '2025-01-01T00:00:00.000Z',
  }),
  attributes: { MessageGroupId: 'c', ApproximateReceiveCount: '1' },
  messageAttributes: {},
} as unknown as SQSRecord;

function guardedDocumentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(guarded(new DynamoDBClient(UNREACHABLE_AWS)));
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe('a stopped fan-out batch', () => {
  it('makes no AWS call after its stop, though its unfinished run goes on', async () => {
    // Prepare: the subscriptions Query answers only after the stop; the connection it names has an
    // expired token, which the fan-out tells (one post) and then deletes from DynamoDB.
    const commands: string[] = [];
    cleanups.push(
      interceptAwsCalls(async (call) => {
        commands.push(call.command);
        if (call.command !== 'QueryCommand') return { $metadata: {} };
        await new Promise((resolve) => setTimeout(resolve, 600));
        const expired = { connectionId: 'expired', userId: 'b', tokenExpiresAt: 1 };
        return { Items: [expired], $metadata: {} };
      }),
    );
    const post = vi.fn<PostFn>(async () => ({ status: 'delivered', attempts: 1 }));
    const logger = recordingLogger();

    // Act
    const response = await processFanoutBatch(
      {
        ddb: guardedDocumentClient(),
        sqs: { send: vi.fn() },
        tables: { connections: 'connections', subscriptions: 'subscriptions' },
        deadLetterQueueUrl: 'dlq',
        post,
        disconnect: vi.fn(),
        logger,
        metrics: { record: vi.fn() },
        remainingTimeMs: () => STOP_MARGIN_MS + 200,
        recordBudgetMs: 0,
      },
      { Records: [record] },
    );

    // Assess: reported at the stop; the run posts once its Query returns, but its delete is refused
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    await vi.waitFor(
      () =>
        expect(logger.info).toHaveBeenCalledWith(
          'Message fanned out',
          expect.objectContaining({ expired: 1 }),
        ),
      { timeout: 5_000 },
    );
    expect(post).toHaveBeenCalledTimes(1);
    expect(commands).toEqual(['QueryCommand']);
  });
});
