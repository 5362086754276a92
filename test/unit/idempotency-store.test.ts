import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { claim, idempotencyKeyOf, markClaim, releaseClaim } from '../../shared/store/idempotency';
import { TTL_ATTRIBUTE } from '../../shared/tables';

const ddbMock = mockClient(DynamoDBDocumentClient);
const store = {
  ddb: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
  tables: { idempotency: 'idempotency-t' },
};
const NOW = Date.parse('2026-01-01T00:00:00.000Z');
const KEY = idempotencyKeyOf('c1', 'alice', 'm-1');
const attempt = { key: KEY, conversationId: 'c1', contentDigest: 'digest-1', token: 'token-2' };
const signal = new AbortController().signal;

/** The put of a claim failed on `item`, returned marshalled as DynamoDB returns it with ALL_OLD. */
const collidesWith = (item: Record<string, unknown>): ConditionalCheckFailedException =>
  new ConditionalCheckFailedException({ message: 'failed', $metadata: {}, Item: marshall(item) });

beforeEach(() => {
  ddbMock.reset();
});

describe('the idempotency store', () => {
  it('keys a claim by conversation, sender and clientMessageId', () => {
    expect(KEY).toBe('c1#alice#m-1');
  });

  it('claims a free key with one conditional put that returns the claim it collides with', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    const outcome = await claim(store, attempt, NOW, signal);

    // Assess
    expect(outcome).toEqual({ kind: 'claimed', tookOver: false });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'idempotency-t',
      Item: {
        idempotencyKey: KEY,
        conversationId: 'c1',
        contentDigest: 'digest-1',
        claimToken: 'token-2',
        claimedAt: NOW,
        [TTL_ATTRIBUTE]: NOW / 1000 + LIMITS.idempotencyTtlSeconds,
      },
      ConditionExpression: 'attribute_not_exists(idempotencyKey)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('reports the lease left on a live claim of the same content', async () => {
    // Prepare
    const claimedAt = NOW - 1_000;
    ddbMock
      .on(PutCommand)
      .rejects(collidesWith({ contentDigest: 'digest-1', claimToken: 'token-1', claimedAt }));

    // Act
    const outcome = await claim(store, attempt, NOW, signal);

    // Assess
    expect(outcome).toEqual({ kind: 'inFlight', leaseLeftMs: LIMITS.writerLeaseMs - 1_000 });
  });

  it('reads the claim consistently when the failed put returned none, and reports a finished send', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(new ConditionalCheckFailedException({ message: 'failed', $metadata: {} }));
    ddbMock
      .on(GetCommand)
      .resolves({ Item: { contentDigest: 'digest-1', claimToken: 'token-1', seq: 7, sentAt: 'earlier' } });

    // Act
    const outcome = await claim(store, attempt, NOW, signal);

    // Assess
    expect(outcome).toEqual({ kind: 'finished', seq: 7, sentAt: 'earlier', token: 'token-1' });
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      TableName: 'idempotency-t',
      Key: { idempotencyKey: KEY },
      ConsistentRead: true,
    });
  });

  it('takes over a claim whose lease ran out, only if it is still that stale claim', async () => {
    // Prepare
    const claimedAt = NOW - LIMITS.writerLeaseMs;
    ddbMock
      .on(PutCommand)
      .rejects(collidesWith({ contentDigest: 'digest-1', claimToken: 'token-1', claimedAt }));
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const outcome = await claim(store, attempt, NOW, signal);

    // Assess
    expect(outcome).toEqual({ kind: 'claimed', tookOver: true });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'idempotency-t',
      Key: { idempotencyKey: KEY },
      UpdateExpression: 'SET claimToken = :token, claimedAt = :now',
      ConditionExpression: 'claimToken = :stale AND attribute_not_exists(seq)',
      ExpressionAttributeValues: { ':token': 'token-2', ':now': NOW, ':stale': 'token-1' },
    });
  });

  it('reports a conflict when the key stands for other content', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(collidesWith({ contentDigest: 'digest-9', seq: 7, sentAt: 'earlier' }));

    // Act
    const outcome = await claim(store, attempt, NOW, signal);

    // Assess
    expect(outcome).toEqual({ kind: 'conflict' });
  });

  it('marks the claim with its seq in one conditional update, only while it is this attempt’s and unmarked or at the seq it leaves', async () => {
    // Prepare
    ddbMock
      .on(UpdateCommand)
      .resolvesOnce({})
      .rejects(new ConditionalCheckFailedException({ message: 'failed', $metadata: {} }));

    // Act
    const first = await markClaim(store, attempt, { seq: 8, sentAt: 'now' }, undefined, signal);
    const moved = await markClaim(store, attempt, { seq: 9, sentAt: 'later' }, 8, signal);

    // Assess
    expect([first, moved]).toEqual([true, false]);
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 1, {
      TableName: 'idempotency-t',
      Key: { idempotencyKey: KEY },
      UpdateExpression: 'SET seq = :next, sentAt = :sentAt',
      ConditionExpression: 'claimToken = :token AND attribute_not_exists(seq)',
      ExpressionAttributeValues: { ':next': 8, ':sentAt': 'now', ':token': 'token-2' },
    });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 2, {
      ConditionExpression: 'claimToken = :token AND seq = :seq',
      ExpressionAttributeValues: { ':next': 9, ':sentAt': 'later', ':token': 'token-2', ':seq': 8 },
    });
  });

  it('releases only this attempt’s claim, and throws when it cannot', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).rejectsOnce(new Error('unreachable')).resolves({});

    // Act
    const failed = releaseClaim(store, attempt);
    await expect(failed).rejects.toThrow('unreachable');
    await releaseClaim(store, attempt);

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 2);
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: 'idempotency-t',
      Key: { idempotencyKey: KEY },
      ConditionExpression: 'claimToken = :token',
      ExpressionAttributeValues: { ':token': 'token-2' },
    });
  });
});
