import { Logger } from '@aws-lambda-powertools/logger';
import {
  ApiGatewayManagementApiClient,
  ApiGatewayManagementApiServiceException,
  DeleteConnectionCommand,
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchWriteCommand,
  DeleteCommand,
  type DeleteCommandInput,
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  FanoutDeliveryError,
  type FanoutDeps,
  processFanoutBatch,
  processRecord,
} from '../../lambdas/fanout/fanout';
import { createDisconnector, createPoster, type PostResult } from '../../shared/poster';
import type { ChatMessage } from '../../shared/protocol';

const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);
const api = mockClient(ApiGatewayManagementApiClient);

const TABLES = { connections: 'connections-table', subscriptions: 'subscriptions-table' };
const DLQ_URL = 'https://sqs.local/000000000000/fanout-dlq.fifo';

const serverError = (): ApiGatewayManagementApiServiceException =>
  new ApiGatewayManagementApiServiceException({
    name: 'InternalServerErrorException',
    $fault: 'server',
    $metadata: { httpStatusCode: 500 },
    message: 'internal error',
  });

function message(conversationId: string, seq: number): ChatMessage {
  return { conversationId, seq, senderId: 'alice', body: `hello ${seq}`, sentAt: '2025-01-01T00:00:00.000Z' };
}

function record(body: string, group: string, messageId: string, dedupId = messageId): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'sender',
      ApproximateFirstReceiveTimestamp: '0',
      MessageGroupId: group,
      MessageDeduplicationId: dedupId,
      SequenceNumber: '1',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:000000000000:fanout.fifo',
    awsRegion: 'eu-west-1',
  };
}

const messageRecord = (m: ChatMessage, messageId: string): SQSRecord =>
  record(JSON.stringify(m), m.conversationId, messageId, `${m.conversationId}:${m.seq}`);

/** A subscription as the fan-out Query returns it: a connection id, or one with its token's exp. */
type Subscription = string | { connectionId: string; tokenExpiresAt: number };
const idOf = (subscription: Subscription): string =>
  typeof subscription === 'string' ? subscription : subscription.connectionId;

/**
 * Subscribers per conversation, answered to the fan-out Query; deleting a connection item hands back the
 * conversations it subscribed to, as DynamoDB's ALL_OLD would (a string set reads as a JS Set).
 */
function givenSubscriptions(byConversation: Record<string, Subscription[]>): void {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    const subscribers = byConversation[String(input.ExpressionAttributeValues?.[':c'])] ?? [];
    return {
      Items: subscribers.map((subscription) =>
        typeof subscription === 'string' ? { connectionId: subscription } : subscription,
      ),
    };
  });
  ddb.on(DeleteCommand).callsFake((input: DeleteCommandInput) => {
    const connectionId = String(input.Key?.connectionId);
    const conversations = Object.keys(byConversation).filter((c) =>
      byConversation[c]?.some((subscription) => idOf(subscription) === connectionId),
    );
    return { Attributes: { connectionId, conversations: new Set(conversations) } };
  });
}

/** The frames posted, in the order the management API received them. */
function postedFrames(): { connectionId: string; conversationId: string; seq: number }[] {
  return api.commandCalls(PostToConnectionCommand).map((call) => {
    const input = call.args[0].input;
    const frame = JSON.parse(String(input.Data)) as ChatMessage;
    return { connectionId: String(input.ConnectionId), conversationId: frame.conversationId, seq: frame.seq };
  });
}

/** Each post's connection and the seqs it carried (a batch frame's in order). */
function postedSeqs(): { connectionId: string; seqs: number[] }[] {
  return api.commandCalls(PostToConnectionCommand).map((call) => {
    const input = call.args[0].input;
    const frame = JSON.parse(String(input.Data)) as {
      type: string;
      seq?: number;
      frames?: { seq: number }[];
    };
    const seqs = frame.type === 'batch' ? (frame.frames ?? []).map((f) => f.seq) : [Number(frame.seq)];
    return { connectionId: String(input.ConnectionId), seqs };
  });
}

function makeDeps(overrides: Partial<FanoutDeps> = {}): FanoutDeps {
  return {
    ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    sqs: new SQSClient({}),
    tables: TABLES,
    deadLetterQueueUrl: DLQ_URL,
    post: createPoster({
      client: new ApiGatewayManagementApiClient({}),
      sleep: async () => {},
      random: () => 0.5,
      options: { maxAttempts: 3 },
    }),
    disconnect: createDisconnector(new ApiGatewayManagementApiClient({})),
    metrics: { record: vi.fn() },
    logger: new Logger({ serviceName: 'chat-fanout-test', logLevel: 'SILENT' }),
    ...overrides,
  };
}

const event = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

beforeEach(() => {
  ddb.reset();
  sqs.reset();
  api.reset();
  ddb.on(BatchWriteCommand).resolves({});
  ddb.on(DeleteCommand).resolves({});
  sqs.on(SendMessageCommand).resolves({ MessageId: 'dlq-1' });
  api.on(PostToConnectionCommand).resolves({});
  api.on(DeleteConnectionCommand).resolves({});
});

describe('fan-out of one message', () => {
  it('posts the message frame to every subscriber found by one Query on conversationId, never a Scan', async () => {
    // Prepare
    givenSubscriptions({ 'conv-a': ['conn-1', 'conn-2'] });
    const m = message('conv-a', 7);

    // Act
    await processRecord(makeDeps(), messageRecord(m, 'm1'));

    // Assess
    expect(ddb).toReceiveCommandWith(QueryCommand, {
      TableName: TABLES.subscriptions,
      KeyConditionExpression: 'conversationId = :c',
      ExpressionAttributeValues: { ':c': 'conv-a' },
    });
    expect(ddb).not.toReceiveCommand(ScanCommand);
    for (const connectionId of ['conn-1', 'conn-2']) {
      expect(api).toReceiveCommandWith(PostToConnectionCommand, {
        ConnectionId: connectionId,
        Data: JSON.stringify({ type: 'message', ...m }),
      });
    }
  });

  it('costs one Query and one post per live connection, with or without token expiries on the subscriptions', async () => {
    // Prepare
    const now = Date.parse('2025-01-01T00:00:00.000Z');
    const live = (connectionId: string) => ({ connectionId, tokenExpiresAt: now / 1000 + 60 });
    const callsFor = async (subscriptions: Subscription[]) => {
      ddb.resetHistory();
      api.resetHistory();
      givenSubscriptions({ 'conv-a': subscriptions });
      api.on(PostToConnectionCommand).resolves({});
      await processRecord(makeDeps({ now: () => now }), messageRecord(message('conv-a', 1), 'm1'));
      return { ddb: ddb.calls().length, api: api.calls().length };
    };

    // Act
    const before = await callsFor(['conn-1', 'conn-2', 'conn-3']);
    const after = await callsFor([live('conn-1'), live('conn-2'), live('conn-3')]);

    // Assess
    expect(before).toEqual({ ddb: 1, api: 3 });
    expect(after).toEqual(before);
  });

  it('tells a subscription past its token exp token_expired instead of the message, then closes and forgets it like a 410', async () => {
    // Prepare
    const now = Date.parse('2025-01-01T00:00:00.000Z');
    givenSubscriptions({
      'conv-a': [
        { connectionId: 'conn-live', tokenExpiresAt: now / 1000 + 1 },
        { connectionId: 'conn-expired', tokenExpiresAt: now / 1000 },
      ],
    });
    api.on(PostToConnectionCommand).resolves({});
    api.on(DeleteConnectionCommand).resolves({});
    const metrics = { record: vi.fn() };
    const m = message('conv-a', 3);

    // Act
    await processRecord(makeDeps({ now: () => now, metrics }), messageRecord(m, 'm1'));

    // Assess
    expect(api).toReceiveCommandTimes(PostToConnectionCommand, 2);
    expect(api).toReceiveCommandWith(PostToConnectionCommand, {
      ConnectionId: 'conn-live',
      Data: JSON.stringify({ type: 'message', ...m }),
    });
    const farewell = api
      .commandCalls(PostToConnectionCommand)
      .find((call) => call.args[0].input.ConnectionId === 'conn-expired');
    expect(JSON.parse(String(farewell?.args[0].input.Data))).toMatchObject({
      type: 'error',
      code: 'token_expired',
      retryable: false,
    });
    expect(api).toReceiveCommandTimes(DeleteConnectionCommand, 1);
    expect(api).toReceiveCommandWith(DeleteConnectionCommand, { ConnectionId: 'conn-expired' });
    expect(ddb).toReceiveCommandWith(DeleteCommand, {
      TableName: TABLES.connections,
      Key: { connectionId: 'conn-expired' },
    });
    expect(ddb).toReceiveCommandWith(BatchWriteCommand, {
      RequestItems: {
        [TABLES.subscriptions]: [
          { DeleteRequest: { Key: { conversationId: 'conv-a', connectionId: 'conn-expired' } } },
        ],
      },
    });
    expect(metrics.record).toHaveBeenCalledWith('connectionsEvicted', 1);
  });

  it('G7: a 410 deletes that connection and its subscriptions while the other connections still get the message', async () => {
    // Prepare
    givenSubscriptions({ 'conv-a': ['alive-1', 'gone-1', 'alive-2'], 'conv-b': ['gone-1'] });
    api
      .on(PostToConnectionCommand, { ConnectionId: 'gone-1' })
      .rejects(new GoneException({ message: 'gone', $metadata: {} }));

    // Act
    await processRecord(makeDeps(), messageRecord(message('conv-a', 1), 'm1'));

    // Assess
    expect(api).toReceiveCommandWith(PostToConnectionCommand, { ConnectionId: 'alive-1' });
    expect(api).toReceiveCommandWith(PostToConnectionCommand, { ConnectionId: 'alive-2' });
    expect(ddb).toReceiveCommandWith(BatchWriteCommand, {
      RequestItems: {
        [TABLES.subscriptions]: [
          { DeleteRequest: { Key: { conversationId: 'conv-a', connectionId: 'gone-1' } } },
          { DeleteRequest: { Key: { conversationId: 'conv-b', connectionId: 'gone-1' } } },
        ],
      },
    });
    expect(ddb).toReceiveCommandWith(DeleteCommand, {
      TableName: TABLES.connections,
      Key: { connectionId: 'gone-1' },
      ReturnValues: 'ALL_OLD',
    });
    expect(ddb).not.toReceiveCommandWith(DeleteCommand, { Key: { connectionId: 'alive-1' } });
    expect(ddb).not.toReceiveCommandWith(QueryCommand, { IndexName: expect.anything() });
  });

  it('G7: a 410 deletes the subscription it came through even when the connection item is already gone', async () => {
    // Prepare: the connection item expired by TTL ($disconnect never came), so its delete hands back nothing.
    givenSubscriptions({ 'conv-a': ['alive-1', 'expired-1'] });
    ddb.on(DeleteCommand, { Key: { connectionId: 'expired-1' } }).resolves({});
    api
      .on(PostToConnectionCommand, { ConnectionId: 'expired-1' })
      .rejects(new GoneException({ message: 'gone', $metadata: {} }));

    // Act
    await processRecord(makeDeps(), messageRecord(message('conv-a', 1), 'm1'));

    // Assess
    expect(ddb).toReceiveCommandWith(BatchWriteCommand, {
      RequestItems: {
        [TABLES.subscriptions]: [
          { DeleteRequest: { Key: { conversationId: 'conv-a', connectionId: 'expired-1' } } },
        ],
      },
    });
  });

  it('G7: a slow connection does not hold back posts to the others', async () => {
    // Prepare
    givenSubscriptions({ 'conv-a': ['slow-1', 'fast-1', 'fast-2'] });
    let release: () => void = () => {};
    const answered = new Promise<object>((resolve) => {
      release = () => resolve({});
    });
    api.on(PostToConnectionCommand, { ConnectionId: 'slow-1' }).callsFake(() => answered);

    // Act
    const done = processRecord(makeDeps(), messageRecord(message('conv-a', 1), 'm1'));

    // Assess: both fast connections are posted while the slow one is still pending.
    await vi.waitFor(() => {
      expect(api).toReceiveCommandWith(PostToConnectionCommand, { ConnectionId: 'fast-1' });
      expect(api).toReceiveCommandWith(PostToConnectionCommand, { ConnectionId: 'fast-2' });
    });
    release();
    await expect(done).resolves.toBeUndefined();
  });

  it('G7: a connection that keeps failing while others receive is closed and forgotten, and the record succeeds', async () => {
    // Prepare
    givenSubscriptions({ 'conv-a': ['bad-1', 'ok-1', 'ok-2'] });
    api.on(PostToConnectionCommand, { ConnectionId: 'bad-1' }).rejects(serverError());

    // Act
    const outcome = processRecord(makeDeps(), messageRecord(message('conv-a', 1), 'm1'));

    // Assess: the conversation is not held up behind SQS retries for one bad socket
    await expect(outcome).resolves.toBeUndefined();
    const posts = postedFrames().map((p) => p.connectionId);
    expect(posts.filter((id) => id === 'bad-1')).toHaveLength(3);
    expect(posts).toEqual(expect.arrayContaining(['ok-1', 'ok-2']));
    expect(api).toReceiveCommandExactlyOnceWith(DeleteConnectionCommand, { ConnectionId: 'bad-1' });
    expect(ddb).toReceiveCommandWith(DeleteCommand, {
      TableName: TABLES.connections,
      Key: { connectionId: 'bad-1' },
    });
    expect(ddb).not.toReceiveCommandWith(DeleteCommand, { Key: { connectionId: 'ok-1' } });
  });

  it('G6: when no connection can be reached the record fails for SQS to retry, and nobody is disconnected', async () => {
    // Prepare
    givenSubscriptions({ 'conv-a': ['bad-1', 'bad-2'] });
    api.on(PostToConnectionCommand).rejects(serverError());

    // Act
    const outcome = processRecord(makeDeps(), messageRecord(message('conv-a', 1), 'm1'));

    // Assess
    await expect(outcome).rejects.toBeInstanceOf(FanoutDeliveryError);
    await expect(outcome).rejects.toMatchObject({
      report: { subscribers: 2, delivered: 0, evicted: 0, failed: 2 },
    });
    expect(api).not.toReceiveCommand(DeleteConnectionCommand);
    expect(ddb).not.toReceiveCommand(DeleteCommand);
  });

  it('G6: throttling that outlasts the retries fails the record without disconnecting anyone', async () => {
    // Prepare
    givenSubscriptions({ 'conv-a': ['throttled-1', 'ok-1'] });
    api
      .on(PostToConnectionCommand, { ConnectionId: 'throttled-1' })
      .rejects(new LimitExceededException({ message: 'slow down', $metadata: { httpStatusCode: 429 } }));

    // Act
    const outcome = processRecord(makeDeps(), messageRecord(message('conv-a', 1), 'm1'));

    // Assess
    await expect(outcome).rejects.toMatchObject({ report: { delivered: 1, evicted: 0, failed: 1 } });
    expect(api).not.toReceiveCommand(DeleteConnectionCommand);
  });

  it('leaves a group for the next invocation when too little time is left to deliver it', async () => {
    // Prepare: two records of one conversation, and less than the budget left.
    givenSubscriptions({ 'conv-a': ['conn-1'] });
    const deps = makeDeps({ remainingTimeMs: () => 5_000, recordBudgetMs: 15_000 });

    // Act
    const response = await processFanoutBatch(
      deps,
      event(messageRecord(message('conv-a', 1), 'a1'), messageRecord(message('conv-a', 2), 'a2')),
    );

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'a1' }, { itemIdentifier: 'a2' }]);
    expect(api).not.toReceiveCommand(PostToConnectionCommand);
  });

  it('coalesces the records of one conversation in a batch: one Query and one batch post per connection', async () => {
    // Prepare
    givenSubscriptions({ 'conv-a': ['conn-1', 'conn-2'] });

    // Act
    const response = await processFanoutBatch(
      makeDeps(),
      event(
        messageRecord(message('conv-a', 1), 'a1'),
        messageRecord(message('conv-a', 2), 'a2'),
        messageRecord(message('conv-a', 3), 'a3'),
      ),
    );

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(postedSeqs()).toEqual([
      { connectionId: 'conn-1', seqs: [1, 2, 3] },
      { connectionId: 'conn-2', seqs: [1, 2, 3] },
    ]);
  });

  it('G7: a throttled post is retried and the record succeeds', async () => {
    // Prepare
    givenSubscriptions({ 'conv-a': ['conn-1'] });
    api
      .on(PostToConnectionCommand, { ConnectionId: 'conn-1' })
      .rejectsOnce(new LimitExceededException({ message: 'slow down', $metadata: { httpStatusCode: 429 } }))
      .resolves({});

    // Act
    const outcome = processRecord(makeDeps(), messageRecord(message('conv-a', 1), 'm1'));

    // Assess
    await expect(outcome).resolves.toBeUndefined();
    expect(api).toReceiveCommandTimes(PostToConnectionCommand, 2);
  });

  it('never has more than `concurrency` posts in flight at once', async () => {
    // Prepare
    const connections = Array.from({ length: 25 }, (_, i) => `conn-${i}`);
    givenSubscriptions({ 'conv-a': connections });
    let inFlight = 0;
    let peak = 0;
    const posted: string[] = [];
    const post = async (connectionId: string): Promise<PostResult> => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await Promise.resolve();
      inFlight--;
      posted.push(connectionId);
      return { status: 'delivered', attempts: 1 };
    };

    // Act
    await processRecord(makeDeps({ post, concurrency: 4 }), messageRecord(message('conv-a', 1), 'm1'));

    // Assess
    expect(peak).toBe(4);
    expect(posted.sort()).toEqual([...connections].sort());
  });

  it('posts to 50 connections at once by default, so a 100-member group is posted in two rounds', async () => {
    // Prepare
    const connections = Array.from({ length: 100 }, (_, i) => `conn-${i}`);
    givenSubscriptions({ 'conv-a': connections });
    let inFlight = 0;
    let peak = 0;
    const post = async (): Promise<PostResult> => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return { status: 'delivered', attempts: 1 };
    };

    // Act
    await processRecord(makeDeps({ post }), messageRecord(message('conv-a', 1), 'm1'));

    // Assess
    expect(peak).toBe(50);
  });
});

describe('fan-out of a FIFO batch', () => {
  it('G6: a failing record fails the rest of its own group, in order, while other groups are delivered', async () => {
    // Prepare
    givenSubscriptions({ 'conv-a': ['conn-a'], 'conv-b': ['conn-b'] });
    api.on(PostToConnectionCommand, { ConnectionId: 'conn-a' }).rejects(serverError());
    const batch = event(
      messageRecord(message('conv-a', 1), 'a1'),
      messageRecord(message('conv-a', 2), 'a2'),
      messageRecord(message('conv-b', 1), 'b1'),
      messageRecord(message('conv-a', 3), 'a3'),
      messageRecord(message('conv-b', 2), 'b2'),
    );

    // Act
    const response = await processFanoutBatch(makeDeps(), batch);

    // Assess
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: 'a1' },
      { itemIdentifier: 'a2' },
      { itemIdentifier: 'a3' },
    ]);
    // conv-a's three records go as one batch post, tried 3 times; conv-b's two as one.
    const posts = postedSeqs();
    expect(posts.filter((p) => p.connectionId === 'conn-a').map((p) => p.seqs)).toEqual([
      [1, 2, 3],
      [1, 2, 3],
      [1, 2, 3],
    ]);
    expect(posts.filter((p) => p.connectionId === 'conn-b').map((p) => p.seqs)).toEqual([[1, 2]]);
  });

  it.each([
    ['is not JSON', 'this is not json'],
    ['is JSON but not a ChatMessage', JSON.stringify({ conversationId: 'conv-a', body: 'no seq' })],
  ])(
    'G6: a poison record whose body %s goes to the DLQ in its group and is not retried',
    async (_case, body) => {
      // Prepare
      givenSubscriptions({ 'conv-a': ['conn-a'] });
      const batch = event(
        record(body, 'conv-a', 'poison-1', 'conv-a:5'),
        messageRecord(message('conv-a', 6), 'a6'),
      );

      // Act
      const response = await processFanoutBatch(makeDeps(), batch);

      // Assess
      expect(response.batchItemFailures).toEqual([]);
      expect(sqs).toReceiveCommandExactlyOnceWith(SendMessageCommand, {
        QueueUrl: DLQ_URL,
        MessageBody: body,
        MessageGroupId: 'conv-a',
        MessageDeduplicationId: 'conv-a:5',
        MessageAttributes: { poison: { DataType: 'String', StringValue: expect.any(String) } },
      });
      expect(postedFrames()).toEqual([{ connectionId: 'conn-a', conversationId: 'conv-a', seq: 6 }]);
    },
  );

  it('G6: a poison record that cannot reach the DLQ is retried rather than dropped', async () => {
    // Prepare
    sqs.on(SendMessageCommand).rejects(new Error('SQS unavailable'));
    const batch = event(record('not json', 'conv-a', 'poison-1'));

    // Act
    const response = await processFanoutBatch(makeDeps(), batch);

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'poison-1' }]);
  });
});
