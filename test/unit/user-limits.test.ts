/**
 * Per-user limits on the `USER#` item (shared/store/connections/: slots.ts, budgets.ts): the connection cap that `$connect`
 * enforces and `$disconnect` or a 410 gives back, and the per-class frame budgets.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createConnectHandler, TOO_MANY_CONNECTIONS_STATUS } from '../../lambdas/connect/lifecycle';
import { RateLimitedError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import {
  claimConnectionSlot,
  deleteConnection,
  releaseConnectionSlot,
  takeUserToken,
  userKey,
} from '../../shared/store/connections';
import { BucketHints } from '../../shared/store/gcra';
import { lifecycleEvent } from '../support/api-gateway';

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const tables = { connections: 'connections-table', subscriptions: 'subscriptions-table' };
const NOW = new Date('2025-06-01T12:00:00.000Z');
const NOW_S = NOW.getTime() / 1000;
const EXPIRES = NOW_S + LIMITS.connectionTtlSeconds;

const conditionFailed = (Item: Record<string, AttributeValue>) =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {}, Item });

/** The user's item as a failed condition returns it, with these `live` entries. */
const userItemWith = (entries: string[]) =>
  marshall({ ...userKey('alice'), liveConnections: new Set(entries) }, { convertClassInstanceToMap: true });

const liveEntries = (count: number, expiresAt: number) =>
  Array.from({ length: count }, (_, n) => `${expiresAt} conn-${n}=`);

beforeEach(() => {
  ddbMock.reset();
});

describe('the connection cap', () => {
  it('claims a slot with one conditional UpdateItem of the user item', async () => {
    // Act
    const claimed = await claimConnectionSlot(
      ddb,
      tables,
      { userId: 'alice', connectionId: 'c1=', expiresAt: EXPIRES },
      NOW,
    );

    // Assess
    expect(claimed).toBe(true);
    expect(ddbMock.calls()).toHaveLength(1);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.connections,
      Key: { connectionId: 'USER#alice' },
      UpdateExpression: 'ADD #live :entry SET #ttl = :ttl',
      ConditionExpression: 'attribute_not_exists(#live) OR size(#live) < :cap',
      ExpressionAttributeValues: {
        ':entry': new Set([`${EXPIRES} c1=`]),
        ':cap': LIMITS.maxConnectionsPerUser,
        ':ttl': EXPIRES,
      },
    });
  });

  it('refuses a user at the cap and writes nothing when every slot is live', async () => {
    // Prepare
    ddbMock
      .on(UpdateCommand)
      .rejects(conditionFailed(userItemWith(liveEntries(LIMITS.maxConnectionsPerUser, EXPIRES))));

    // Act
    const claimed = await claimConnectionSlot(
      ddb,
      tables,
      { userId: 'alice', connectionId: 'c1=', expiresAt: EXPIRES },
      NOW,
    );

    // Assess
    expect(claimed).toBe(false);
    expect(ddbMock.calls()).toHaveLength(1);
  });

  it('drops slots whose connections have expired and claims again, so a lost $disconnect cannot lock a user out', async () => {
    // Prepare: two slots lapsed (their connections' TTL is past) without a $disconnect.
    const lapsed = [`${NOW_S - 1} old-1=`, `${NOW_S} old-2=`];
    const full = [...lapsed, ...liveEntries(LIMITS.maxConnectionsPerUser - 2, EXPIRES)];
    ddbMock
      .on(UpdateCommand, { ConditionExpression: 'attribute_not_exists(#live) OR size(#live) < :cap' })
      .rejectsOnce(conditionFailed(userItemWith(full)))
      .resolves({});

    // Act
    const claimed = await claimConnectionSlot(
      ddb,
      tables,
      { userId: 'alice', connectionId: 'c1=', expiresAt: EXPIRES },
      NOW,
    );

    // Assess
    expect(claimed).toBe(true);
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 3);
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 2, {
      Key: { connectionId: 'USER#alice' },
      UpdateExpression: 'DELETE #live :lapsed',
      ExpressionAttributeValues: { ':lapsed': new Set(lapsed) },
    });
  });

  it('gives a slot back with one unconditional DELETE from the set', async () => {
    // Act
    await releaseConnectionSlot(ddb, tables, { userId: 'alice', connectionId: 'c1=', expiresAt: EXPIRES });

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { connectionId: 'USER#alice' },
      UpdateExpression: 'DELETE #live :entry',
      ExpressionAttributeValues: { ':entry': new Set([`${EXPIRES} c1=`]) },
    });
  });

  it('gives the slot back when a connection is deleted ($disconnect or a 410), from the deleted item', async () => {
    // Prepare
    ddbMock
      .on(DeleteCommand)
      .resolves({ Attributes: { connectionId: 'c1=', userId: 'alice', expiresAt: EXPIRES } });

    // Act
    await deleteConnection(ddb, tables, 'c1=');

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { connectionId: 'USER#alice' },
      UpdateExpression: 'DELETE #live :entry',
      ExpressionAttributeValues: { ':entry': new Set([`${EXPIRES} c1=`]) },
    });
  });

  it('refuses $connect past the cap with 429 and a reason, storing no connection', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed(userItemWith(liveEntries(2, EXPIRES))));
    const logger = { appendKeys: vi.fn(), removeKeys: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const handle = createConnectHandler({ ddb, tables, logger, now: () => NOW, maxConnectionsPerUser: 2 });

    // Act
    const result = await handle(
      lifecycleEvent('CONNECT', {
        connectionId: 'c3=',
        authorizer: { principalId: 'alice', userId: 'alice' },
      }),
    );

    // Assess
    expect(result).toEqual({
      statusCode: TOO_MANY_CONNECTIONS_STATUS,
      body: 'Too many connections: at most 2 per user',
    });
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 0);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      ExpressionAttributeValues: expect.objectContaining({ ':cap': 2 }),
    });
  });

  it('gives the slot back when storing the connection fails', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(new Error('throttled'));
    const logger = { appendKeys: vi.fn(), removeKeys: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const handle = createConnectHandler({ ddb, tables, logger, now: () => NOW });

    // Act
    const attempt = handle(
      lifecycleEvent('CONNECT', {
        connectionId: 'c1=',
        authorizer: { principalId: 'alice', userId: 'alice' },
      }),
    );

    // Assess
    await expect(attempt).rejects.toThrow('throttled');
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 2, {
      UpdateExpression: 'DELETE #live :entry',
    });
  });
});

describe('the per-user frame budgets', () => {
  const take = (costClass: 'read' | 'admin', at: number) =>
    takeUserToken(ddb, tables, new BucketHints(), 'alice', costClass, () => at, new AbortController().signal);

  it("takes a token from the class's bucket on the user item with one UpdateItem", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    await take('read', NOW.getTime());

    // Assess
    const { perSecond } = LIMITS.userBudgets.read;
    expect(ddbMock.calls()).toHaveLength(1);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.connections,
      Key: { connectionId: 'USER#alice' },
      // A first take starts the bucket with the in-use update, which applies whether or not it exists.
      UpdateExpression: 'SET tat_read = if_not_exists(tat_read, :now) + :interval',
      ConditionExpression: 'attribute_not_exists(tat_read) OR (tat_read > :now AND tat_read <= :limit)',
      ExpressionAttributeValues: expect.objectContaining({
        ':interval': 1_000 / perSecond,
        ':now': NOW.getTime(),
      }),
    });
  });

  it('refuses rate_limited with retryAfterMs when the bucket is empty, writing nothing', async () => {
    // Prepare: the bucket stands 500 ms past its tolerance.
    const { perSecond, burst } = LIMITS.userBudgets.admin;
    const tolerance = ((burst - 1) * 1_000) / perSecond;
    const tat = NOW.getTime() + tolerance + 500;
    ddbMock.on(UpdateCommand).rejects(conditionFailed(marshall({ ...userKey('alice'), tat_admin: tat })));

    // Act
    const attempt = take('admin', NOW.getTime());

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(RateLimitedError);
    await expect(attempt).rejects.toMatchObject({ code: 'rate_limited', retryAfterMs: 500 });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 1);
  });
});
