/** The fan-out skips the connection that sent a message (it has its ack), and only for a message. */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type FanoutDeps, processRecord } from '../../lambdas/fanout/fanout';
import type { PostFn } from '../../shared/poster';
import { encodeQueueBody, type QueueRecord } from '../../shared/queue-body';

const ddb = mockClient(DynamoDBDocumentClient);

const SENT_AT = '2025-01-01T00:00:00.000Z';
const MESSAGE = { conversationId: 'c1', seq: 5, senderId: 'alice', body: 'hi', sentAt: SENT_AT };

function sqsRecord(body: QueueRecord): SQSRecord {
  return {
    messageId: 'm-1',
    body: encodeQueueBody(body),
    attributes: { MessageGroupId: 'c1' },
  } as unknown as SQSRecord;
}

/** Posts every frame, recording which connection got which frame type. */
function makeDeps(): {
  deps: FanoutDeps;
  posted: { connectionId: string; frame: Record<string, unknown> }[];
} {
  const posted: { connectionId: string; frame: Record<string, unknown> }[] = [];
  const post: PostFn = vi.fn(async (connectionId: string, data: string) => {
    posted.push({ connectionId, frame: JSON.parse(data) });
    return { status: 'delivered' as const };
  }) as unknown as PostFn;
  const deps: FanoutDeps = {
    ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    sqs: new SQSClient({}),
    tables: { connections: 'connections-table', subscriptions: 'subscriptions-table' },
    deadLetterQueueUrl: 'https://sqs.local/000000000000/fanout-dlq.fifo',
    post,
    disconnect: vi.fn(async () => {}),
    metrics: { record: vi.fn() },
    logger: new Logger({ serviceName: 'chat-fanout-test', logLevel: 'SILENT' }),
  };
  return { deps, posted };
}

beforeEach(() => {
  ddb.reset();
  // Alice has two tabs subscribed, Bob one.
  ddb.on(QueryCommand).resolves({
    Items: [
      { connectionId: 'alice-tab-1', userId: 'alice' },
      { connectionId: 'alice-tab-2', userId: 'alice' },
      { connectionId: 'bob-1', userId: 'bob' },
    ],
  });
});

describe('fan-out: the sending connection has its ack', () => {
  it('pushes a message to every subscribed connection but the one that sent it, without the field', async () => {
    // Prepare
    const { deps, posted } = makeDeps();

    // Act
    await processRecord(deps, sqsRecord({ ...MESSAGE, senderConnectionId: 'alice-tab-1' }));

    // Assess
    expect(posted.map((post) => post.connectionId).sort()).toEqual(['alice-tab-2', 'bob-1']);
    expect(posted[0]?.frame).toEqual({ type: 'message', ...MESSAGE });
  });

  it('pushes a message queued without senderConnectionId to every subscriber', async () => {
    // Prepare
    const { deps, posted } = makeDeps();

    // Act
    await processRecord(deps, sqsRecord(MESSAGE));

    // Assess
    expect(posted.map((post) => post.connectionId).sort()).toEqual(['alice-tab-1', 'alice-tab-2', 'bob-1']);
  });

  it('pushes an edit to the sending connection too, since its ack carries only the version', async () => {
    // Prepare
    const { deps, posted } = makeDeps();
    const edit = {
      kind: 'edit' as const,
      conversationId: 'c1',
      seq: 5,
      body: 'hi!',
      editedAt: SENT_AT,
      version: 1,
    };

    // Act
    await processRecord(deps, sqsRecord(edit));

    // Assess
    expect(posted.map((post) => post.connectionId).sort()).toEqual(['alice-tab-1', 'alice-tab-2', 'bob-1']);
  });
});
