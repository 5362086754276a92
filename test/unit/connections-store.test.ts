import {
  type CancellationReason,
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionGoneError, LimitExceededError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import {
  ANNOUNCED_ATTRIBUTE,
  addAnnounced,
  deleteConnection,
  deleteSubscription,
  listListeners,
  putConnection,
  putSubscription,
  SHARDS_MARKER,
  shardKey,
  shardOf,
} from '../../shared/store/connections';
import { deferred } from '../support/deferred';

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const tables = { connections: 'connections-table', subscriptions: 'subscriptions-table' };
const NOW = new Date('2025-06-01T12:00:00.000Z');
const expectedExpiry = NOW.getTime() / 1000 + LIMITS.connectionTtlSeconds;

const subscriptionKeys = (connectionId: string, from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ conversationId: `conv-${from + i}`, connectionId }));

/** The keys each BatchWrite asked to delete, in call order. */
function batchWrittenKeys(): unknown[][] {
  return ddbMock.commandCalls(BatchWriteCommand).map((call) => {
    const input = call.args[0].input as BatchWriteCommandInput;
    return (input.RequestItems?.[tables.subscriptions] ?? []).map((request) => request.DeleteRequest?.Key);
  });
}

beforeEach(() => {
  ddbMock.reset();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('putConnection', () => {
  it('stores a connection with an expiresAt TTL beyond the 2 h connection limit', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    await putConnection(
      ddb,
      tables,
      { connectionId: 'c1', userId: 'alice', connectedAt: NOW.toISOString() },
      NOW,
    );

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.connections,
      Item: {
        connectionId: 'c1',
        userId: 'alice',
        connectedAt: NOW.toISOString(),
        expiresAt: expectedExpiry,
      },
    });
  });
});

describe('putSubscription', () => {
  beforeEach(() => {
    // A small conversation: its base partition, read before the write, holds no marker.
    ddbMock.on(QueryCommand).resolves({ Items: [] });
  });

  const subscription = { conversationId: 'general', connectionId: 'c1', userId: 'alice' };

  /** What DynamoDB answers when a condition of the transaction fails; `Item` only if the connection exists. */
  const cancelled = (first: CancellationReason) =>
    new TransactionCanceledException({
      message: 'Transaction cancelled',
      $metadata: {},
      CancellationReasons: [first, { Code: 'None' }],
    });

  it('adds the conversation to the connection item and stores the subscription in one transaction', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    await putSubscription(ddb, tables, subscription, NOW);

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
    expect(ddbMock).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [
        {
          Update: {
            TableName: tables.connections,
            Key: { connectionId: 'c1' },
            UpdateExpression: 'ADD conversations :conversation',
            ConditionExpression:
              'attribute_exists(connectionId) AND (attribute_not_exists(conversations) OR ' +
              'size(conversations) < :max OR contains(conversations, :id))',
            ExpressionAttributeValues: {
              ':conversation': new Set(['general']),
              ':max': LIMITS.maxSubscriptionsPerConnection,
              ':id': 'general',
            },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
        {
          Put: {
            TableName: tables.subscriptions,
            Item: {
              conversationId: 'general',
              connectionId: 'c1',
              userId: 'alice',
              subscribedAt: NOW.toISOString(),
              expiresAt: expectedExpiry,
            },
          },
        },
      ],
    });
  });

  it("stores the connection's token exp on the subscription, whose TTL is 10 minutes (the idle timeout) after it", async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const tokenExpiresAt = NOW.getTime() / 1000 + 300;

    // Act
    await putSubscription(ddb, tables, { ...subscription, tokenExpiresAt }, NOW);

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    const items = ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems;
    expect(items?.[1]?.Put?.Item).toMatchObject({ tokenExpiresAt, expiresAt: tokenExpiresAt + 600 });
  });

  it('refuses with connection_gone when the connection item no longer exists', async () => {
    // Prepare: a failed attribute_exists returns no old item.
    ddbMock.on(TransactWriteCommand).rejects(cancelled({ Code: 'ConditionalCheckFailed' }));

    // Act
    const attempt = putSubscription(ddb, tables, subscription, NOW);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ConnectionGoneError);
    await expect(attempt).rejects.toMatchObject({ code: 'connection_gone', retryable: true });
  });

  it('refuses with limit_exceeded when the connection already listens to the most conversations', async () => {
    // Prepare: the connection exists (its old item comes back) but its set is full.
    const full = Array.from({ length: LIMITS.maxSubscriptionsPerConnection }, (_, i) => `conv-${i}`);
    ddbMock.on(TransactWriteCommand).rejects(
      cancelled({
        Code: 'ConditionalCheckFailed',
        Item: { connectionId: { S: 'c1' }, conversations: { SS: full } },
      }),
    );

    // Act
    const attempt = putSubscription(ddb, tables, subscription, NOW);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(LimitExceededError);
    await expect(attempt).rejects.toMatchObject({ code: 'limit_exceeded', retryable: false });
  });

  it('acks a subscribe again of a connection in the base partition of a conversation sharded since, writing nothing', async () => {
    // Prepare: the marker is there now; the connection's set (marshalled, as DynamoDB returns it) names the
    // base partition, where its first attempt stored the subscription before the conversation was sharded.
    ddbMock.on(QueryCommand).resolves({ Items: [{ connectionId: SHARDS_MARKER, shards: 32 }] });
    ddbMock.on(TransactWriteCommand).rejects(
      cancelled({
        Code: 'ConditionalCheckFailed',
        Item: { connectionId: { S: 'c1' }, conversations: { SS: ['sharded-since'] } },
      }),
    );

    // Act
    const attempt = putSubscription(ddb, tables, { ...subscription, conversationId: 'sharded-since' }, NOW);

    // Assess
    await expect(attempt).resolves.toBeUndefined();
    const update = ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Update;
    expect(update?.ConditionExpression).toContain('NOT contains(conversations, :base)');
  });

  it('puts at most the threshold of a crowd subscribing at once in the base partition, and shards the rest', async () => {
    // Prepare: every subscribe reads the base partition before any of them is stored.
    const stored = deferred();
    ddbMock.on(QueryCommand).resolves({ Items: [] });
    ddbMock.on(TransactWriteCommand).callsFake(() => stored.promise.then(() => ({})));
    ddbMock.on(UpdateCommand).resolves({});
    const crowd = LIMITS.fanoutShardThreshold + 50;

    // Act
    const subscribes = Array.from({ length: crowd }, (_, i) =>
      putSubscription(ddb, tables, { conversationId: 'crowd', connectionId: `c${i}`, userId: `u${i}` }, NOW),
    );
    await vi.waitFor(() => expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, crowd));
    stored.resolve();
    await Promise.all(subscribes);

    // Assess
    const partitions = ddbMock
      .commandCalls(TransactWriteCommand)
      .map((call) => call.args[0].input.TransactItems?.[1]?.Put?.Item?.conversationId);
    expect(partitions.filter((partition) => partition === 'crowd')).toHaveLength(LIMITS.fanoutShardThreshold);
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { conversationId: 'crowd', connectionId: SHARDS_MARKER },
    });
  });

  it('counts a base write that finished while a Query was out, which its answer may not hold', async () => {
    // Prepare: a's Query read 199 subscriptions; before its answer is handled, b (whose Query read 198)
    // stores the 200th.
    const threshold = LIMITS.fanoutShardThreshold;
    const listed = (n: number) => Array.from({ length: n }, (_, i) => ({ connectionId: `old${i}` }));
    const answerA = deferred<{ Items: Record<string, unknown>[] }>();
    ddbMock
      .on(QueryCommand)
      .callsFakeOnce(() => answerA.promise)
      .callsFakeOnce(async () => ({ Items: listed(threshold - 2) }));
    ddbMock.on(TransactWriteCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({});
    const key = (connectionId: string) => ({
      conversationId: 'stale-read',
      connectionId,
      userId: connectionId,
    });

    // Act
    const a = putSubscription(ddb, tables, key('a'), NOW);
    await putSubscription(ddb, tables, key('b'), NOW);
    answerA.resolve({ Items: listed(threshold - 1) });
    await a;

    // Assess: b went to the base partition, a found it full and sharded the conversation.
    const partitions = ddbMock
      .commandCalls(TransactWriteCommand)
      .map((call) => call.args[0].input.TransactItems?.[1]?.Put?.Item?.conversationId);
    expect(partitions).toEqual([
      'stale-read',
      shardKey('stale-read', shardOf('a', LIMITS.subscriptionShards)),
    ]);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { conversationId: 'stale-read', connectionId: SHARDS_MARKER },
    });
  });

  it('answers busy, retryable in a moment, when another subscription change of the connection collides', async () => {
    // Prepare: a client re-subscribing every stream at once after a reconnect.
    ddbMock.on(TransactWriteCommand).rejects(cancelled({ Code: 'TransactionConflict' }));

    // Act
    const attempt = putSubscription(ddb, tables, subscription, NOW);

    // Assess
    await expect(attempt).rejects.toMatchObject({ code: 'busy', retryable: true, retryAfterMs: 250 });
  });

  it('passes on a transaction cancelled for another reason unchanged', async () => {
    // Prepare
    const throttled = cancelled({ Code: 'ThrottlingError' });
    ddbMock.on(TransactWriteCommand).rejects(throttled);

    // Act
    const attempt = putSubscription(ddb, tables, subscription, NOW);

    // Assess
    await expect(attempt).rejects.toBe(throttled);
  });
});

describe('deleteSubscription', () => {
  const key = { conversationId: 'general', connectionId: 'c1' };

  it("removes the subscription's partition from the connection's set, then deletes the subscription there", async () => {
    // Prepare: the set names the base partition.
    ddbMock.on(DeleteCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({ Attributes: { conversations: new Set(['general', 'other']) } });
    const shard = shardKey('general', shardOf('c1', LIMITS.subscriptionShards));

    // Act
    await deleteSubscription(ddb, tables, key);

    // Assess
    const order = ddbMock.calls().map((call) => call.args[0].constructor.name);
    expect(order).toEqual(['UpdateCommand', 'DeleteCommand']);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.connections,
      Key: { connectionId: 'c1' },
      UpdateExpression: 'DELETE conversations :partitions',
      ConditionExpression: 'attribute_exists(connectionId)',
      ExpressionAttributeValues: { ':partitions': new Set(['general', shard]) },
      ReturnValues: 'UPDATED_OLD',
    });
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, { TableName: tables.subscriptions, Key: key });
  });

  it("deletes a sharded subscription in its shard, the partition the connection's set names", async () => {
    // Prepare
    const shard = shardKey('general', shardOf('c1', LIMITS.subscriptionShards));
    ddbMock.on(DeleteCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({ Attributes: { conversations: new Set([shard]) } });

    // Act
    await deleteSubscription(ddb, tables, key);

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      Key: { conversationId: shard, connectionId: 'c1' },
    });
  });

  it('succeeds when the connection is already gone', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).resolves({});
    ddbMock.on(GetCommand).resolves({ Item: { shards: LIMITS.subscriptionShards } });
    ddbMock
      .on(UpdateCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'no connection', $metadata: {} }));

    // Act
    const attempt = deleteSubscription(ddb, tables, key);

    // Assess: no set to read, so both places the subscription could be.
    await expect(attempt).resolves.toBeUndefined();
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 2);
  });

  it("fails when the connection's set cannot be updated for any other reason", async () => {
    // Prepare
    ddbMock.on(DeleteCommand).resolves({});
    ddbMock.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    // Act
    const attempt = deleteSubscription(ddb, tables, key);

    // Assess
    await expect(attempt).rejects.toThrow('ProvisionedThroughputExceededException');
  });
});

describe('listListeners, as the fan-out reads the subscribers', () => {
  it('reads strongly consistent, so a subscription acked a moment ago gets the next message (G5)', async () => {
    ddbMock.on(QueryCommand).resolves({ Items: [{ connectionId: 'c1' }] });

    await listListeners(ddb, tables, 'general', { consistent: true });

    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.subscriptions,
      KeyConditionExpression: 'conversationId = :c',
      ConsistentRead: true,
    });
  });

  it("reads each subscription's token exp in the same Query, so the fan-out tells expired ones apart for free", async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({
      Items: [
        { connectionId: 'c1', userId: 'alice', tokenExpiresAt: 1_700_000_000 },
        { connectionId: 'c2', userId: 'bob' },
      ],
    });

    // Act
    const listeners = await listListeners(ddb, tables, 'general', { consistent: true });

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      ProjectionExpression: 'connectionId, userId, tokenExpiresAt, shards, tickMs',
    });
    expect(listeners).toEqual([
      { connectionId: 'c1', userId: 'alice', tokenExpiresAt: 1_700_000_000 },
      { connectionId: 'c2', userId: 'bob' },
    ]);
  });

  it('follows LastEvaluatedKey and returns the connections of every page', async () => {
    // Prepare
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({
        Items: [{ connectionId: 'c1' }, { connectionId: 'c2' }],
        LastEvaluatedKey: { conversationId: 'general', connectionId: 'c2' },
      })
      .resolvesOnce({ Items: [{ connectionId: 'c3' }] });

    // Act
    const listeners = await listListeners(ddb, tables, 'general', { consistent: true });

    // Assess
    expect(listeners.map((listener) => listener.connectionId)).toEqual(['c1', 'c2', 'c3']);
    expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 2);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.subscriptions,
      ExpressionAttributeValues: { ':c': 'general' },
      ExclusiveStartKey: { conversationId: 'general', connectionId: 'c2' },
    });
  });
});

describe('deleteConnection', () => {
  /** Answers the connection's deletion with its old item, whose `conversations` set lists its subscriptions. */
  function givenConnection(conversationIds: string[] | undefined): void {
    const Attributes =
      conversationIds === undefined
        ? { connectionId: 'c1', userId: 'alice' }
        : { connectionId: 'c1', userId: 'alice', conversations: new Set(conversationIds) };
    ddbMock.on(DeleteCommand).resolves({ Attributes });
  }

  it('deletes the connection item first and then the subscriptions of the conversations in its set', async () => {
    // Prepare
    givenConnection(['general', 'random']);
    ddbMock.on(BatchWriteCommand).resolves({});

    // Act
    await deleteConnection(ddb, tables, 'c1');

    // Assess
    const order = ddbMock.calls().map((call) => call.args[0].constructor.name);
    expect(order).toEqual(['DeleteCommand', 'BatchWriteCommand']);
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: tables.connections,
      Key: { connectionId: 'c1' },
      ReturnValues: 'ALL_OLD',
    });
    expect(batchWrittenKeys()).toEqual([
      [
        { conversationId: 'general', connectionId: 'c1' },
        { conversationId: 'random', connectionId: 'c1' },
      ],
    ]);
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
  });

  it('deletes the subscriptions in batches of 25', async () => {
    // Prepare
    const keys = subscriptionKeys('c1', 0, 33);
    givenConnection(keys.map((key) => key.conversationId));
    ddbMock.on(BatchWriteCommand).resolves({});

    // Act
    await deleteConnection(ddb, tables, 'c1');

    // Assess
    expect(batchWrittenKeys()).toEqual([keys.slice(0, 25), keys.slice(25)]);
  });

  it.each([
    ['is already gone', undefined],
    ['never subscribed', 'no set'],
  ] as const)('writes no batch when the connection %s', async (_case, state) => {
    // Prepare
    if (state === undefined) ddbMock.on(DeleteCommand).resolves({});
    else givenConnection(undefined);

    // Act
    await deleteConnection(ddb, tables, 'c1');

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 1);
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteCommand);
  });

  it('resends only the unprocessed items until DynamoDB has processed them all', async () => {
    // Prepare
    vi.useFakeTimers();
    const keys = subscriptionKeys('c1', 0, 3);
    const [, second, third] = keys;
    givenConnection(keys.map((key) => key.conversationId));
    ddbMock
      .on(BatchWriteCommand)
      .resolvesOnce({
        UnprocessedItems: {
          [tables.subscriptions]: [{ DeleteRequest: { Key: second } }, { DeleteRequest: { Key: third } }],
        },
      })
      .resolvesOnce({ UnprocessedItems: { [tables.subscriptions]: [{ DeleteRequest: { Key: third } }] } })
      .resolves({ UnprocessedItems: {} });

    // Act
    const deletion = deleteConnection(ddb, tables, 'c1');
    await vi.runAllTimersAsync();
    await deletion;

    // Assess
    expect(batchWrittenKeys()).toEqual([keys, [second, third], [third]]);
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 1);
  });

  it('fails when its subscriptions stay unprocessed, after the connection item is already gone', async () => {
    // Prepare
    vi.useFakeTimers();
    const keys = subscriptionKeys('c1', 0, 1);
    givenConnection(keys.map((key) => key.conversationId));
    ddbMock
      .on(BatchWriteCommand)
      .resolves({ UnprocessedItems: { [tables.subscriptions]: [{ DeleteRequest: { Key: keys[0] } }] } });

    // Act
    const deletion = deleteConnection(ddb, tables, 'c1');
    const outcome = expect(deletion).rejects.toThrow(/unprocessed items/);
    await vi.runAllTimersAsync();
    await outcome;

    // Assess: no subscribe can add to a connection that is gone, so what is left is only for TTL or a 410.
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 1);
    expect(ddbMock.calls()[0]?.args[0]).toBeInstanceOf(DeleteCommand);
  });
});

describe('addAnnounced', () => {
  it("adds the conversations to the connection's announcedTo set only while the connection exists", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const added = await addAnnounced(ddb, tables, 'c1', ['conv-1', 'conv-2']);

    // Assess
    expect(added).toBe(true);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.connections,
      Key: { connectionId: 'c1' },
      UpdateExpression: 'ADD #announced :conversations',
      ConditionExpression: 'attribute_exists(connectionId)',
      ExpressionAttributeNames: { '#announced': ANNOUNCED_ATTRIBUTE },
      ExpressionAttributeValues: { ':conversations': new Set(['conv-1', 'conv-2']) },
    });
  });

  it('answers false when the connection was deleted meanwhile', async () => {
    // Prepare
    ddbMock
      .on(UpdateCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'no connection', $metadata: {} }));

    // Act
    const added = await addAnnounced(ddb, tables, 'c1', ['conv-1']);

    // Assess
    expect(added).toBe(false);
  });
});
