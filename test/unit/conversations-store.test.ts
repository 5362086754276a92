/**
 * The conversations table's owner (shared/store/conversations/): the request each function sends and
 * what it makes of DynamoDB's answer. The routes that use them are covered by conversations.test.ts,
 * membership.test.ts and ephemeral.test.ts.
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { NotAMemberError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import {
  claimRemoval,
  makeAdmin,
  memberPage,
  PROFILE_SK,
  type RemovalRecord,
  readMeta,
  readMetas,
  removalSk,
  removeMemberItem,
  setRemovalSeq,
  stillAdmin,
  takeTypingSlot,
  userPk,
} from '../../shared/store/conversations';
import { META_SK, memberSk } from '../../shared/tables';

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const tables = { conversations: 'conversations-t' };
const CONVERSATION = 'conv-1';
const NOW = Date.parse('2030-01-02T03:04:05.000Z');

const conditionFailed = (item?: Record<string, unknown>) =>
  new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    ...(item === undefined ? {} : { Item: marshall(item) }),
  });

const cancelled = (...codes: string[]) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

beforeEach(() => {
  ddbMock.reset();
});

describe('readMeta', () => {
  it('reads the whole META item consistently', async () => {
    // Prepare
    const meta = { conversationId: CONVERSATION, sk: META_SK, lastSeq: 3, createdBy: 'alice' };
    ddbMock.on(GetCommand).resolves({ Item: meta });

    // Act
    const read = await readMeta(ddb, tables, CONVERSATION);

    // Assess
    expect(read).toEqual(meta);
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      TableName: tables.conversations,
      Key: { conversationId: CONVERSATION, sk: META_SK },
      ConsistentRead: true,
    });
  });

  it('answers undefined for a conversation that does not exist', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});

    // Act
    const read = await readMeta(ddb, tables, 'conv-missing');

    // Assess
    expect(read).toBeUndefined();
  });
});

describe('readMetas', () => {
  it('reads the META item of each conversation in one BatchGetItem', async () => {
    // Prepare
    const metas = [{ conversationId: 'c1', sk: META_SK, lastSeq: 1 }];
    ddbMock.on(BatchGetCommand).resolves({ Responses: { [tables.conversations]: metas } });

    // Act
    const read = await readMetas(ddb, tables, ['c1', 'c2']);

    // Assess
    expect(read).toEqual(metas);
    expect(ddbMock).toHaveReceivedCommandTimes(BatchGetCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(BatchGetCommand, {
      RequestItems: {
        [tables.conversations]: {
          Keys: [
            { conversationId: 'c1', sk: META_SK },
            { conversationId: 'c2', sk: META_SK },
          ],
        },
      },
    });
  });
});

describe('memberPage', () => {
  it("reads one page of the user's conversations with one index Query, each with its read cursor (0 before a first read)", async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({
      Items: [{ conversationId: 'c1', readSeq: 4 }, { conversationId: 'c2' }],
      LastEvaluatedKey: { memberId: 'alice', conversationId: 'c2', sk: 'MEMBER#alice' },
    });

    // Act
    const page = await memberPage(ddb, tables, 'alice', 2);

    // Assess
    expect(page).toEqual({
      members: [
        { conversationId: 'c1', readSeq: 4 },
        { conversationId: 'c2', readSeq: 0 },
      ],
      next: 'c2',
    });
    expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.conversations,
      IndexName: 'byMember',
      KeyConditionExpression: 'memberId = :u',
      ExpressionAttributeValues: { ':u': 'alice' },
      ProjectionExpression: 'conversationId, readSeq',
      Limit: 2,
    });
  });

  it('starts after the conversation the cursor names, and names no next page at the end', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [{ conversationId: 'c3', readSeq: 1 }] });

    // Act
    const page = await memberPage(ddb, tables, 'alice', 2, 'c2');

    // Assess
    expect(page).toEqual({ members: [{ conversationId: 'c3', readSeq: 1 }] });
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      ExclusiveStartKey: { memberId: 'alice', conversationId: 'c2', sk: 'MEMBER#alice' },
    });
  });
});

describe('removeMemberItem', () => {
  const record: RemovalRecord = { kind: 'member_removed', by: 'alice', claimedAt: NOW };

  it('deletes the member item, counts one member less and writes the removal record in one transaction', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const removed = await removeMemberItem(ddb, tables, CONVERSATION, 'bob', { record, counted: false });

    // Assess
    expect(removed).toBe('removed');
    expect(ddbMock).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [
        {
          Delete: {
            TableName: tables.conversations,
            Key: { conversationId: CONVERSATION, sk: memberSk('bob') },
            ConditionExpression: 'attribute_exists(conversationId)',
          },
        },
        {
          Update: {
            TableName: tables.conversations,
            Key: { conversationId: CONVERSATION, sk: META_SK },
            UpdateExpression: 'ADD memberCount :minusOne',
            ConditionExpression: 'attribute_exists(conversationId)',
            ExpressionAttributeValues: { ':minusOne': -1 },
          },
        },
        {
          Put: {
            TableName: tables.conversations,
            Item: { conversationId: CONVERSATION, sk: removalSk('bob'), ...record },
          },
        },
        {
          Update: {
            TableName: tables.conversations,
            Key: { conversationId: CONVERSATION, sk: 'ROSTER' },
            UpdateExpression: 'DELETE userIds :ids',
            ExpressionAttributeValues: { ':ids': new Set(['bob']) },
          },
        },
      ],
    });
  });

  it('gives back the conversation slot the member item took, and carries the role items in the same transaction', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const also = [makeAdmin(tables, CONVERSATION, 'carol')];

    // Act
    await removeMemberItem(ddb, tables, CONVERSATION, 'bob', { record, counted: true, also });

    // Assess
    const items = ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems;
    expect(items?.slice(3)).toEqual([
      {
        Update: {
          TableName: tables.conversations,
          Key: { conversationId: CONVERSATION, sk: 'ROSTER' },
          UpdateExpression: 'DELETE userIds :ids',
          ExpressionAttributeValues: { ':ids': new Set(['bob']) },
        },
      },
      {
        Update: {
          TableName: tables.conversations,
          Key: { conversationId: userPk('bob'), sk: PROFILE_SK },
          UpdateExpression: 'ADD conversationCount :minusOne',
          ExpressionAttributeValues: { ':minusOne': -1 },
        },
      },
      ...also,
    ]);
  });

  it('answers roles_changed when a role condition failed, and writes nothing', async () => {
    // Prepare
    ddbMock
      .on(TransactWriteCommand)
      .rejects(cancelled('None', 'None', 'None', 'None', 'ConditionalCheckFailed'));

    // Act
    const removed = await removeMemberItem(ddb, tables, CONVERSATION, 'bob', {
      record,
      counted: true,
      also: [stillAdmin(tables, CONVERSATION, 'carol')],
    });

    // Assess
    expect(removed).toBe('roles_changed');
  });

  it('answers not_a_member when the member was removed a moment ago', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(cancelled('ConditionalCheckFailed', 'None', 'None'));

    // Act
    const removed = await removeMemberItem(ddb, tables, CONVERSATION, 'bob', { record, counted: true });

    // Assess
    expect(removed).toBe('not_a_member');
  });

  it('rethrows a transaction that failed for another reason', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(cancelled('None', 'TransactionConflict', 'None'));

    // Act
    const attempt = removeMemberItem(ddb, tables, CONVERSATION, 'bob', { record, counted: true });

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(TransactionCanceledException);
  });
});

describe('setRemovalSeq', () => {
  it("writes the change's seq and time on the removal record only if it has no seq yet", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const set = await setRemovalSeq({ ddb, tables }, CONVERSATION, 'bob', { seq: 7, at: 'then' });

    // Assess
    expect(set).toBe(true);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.conversations,
      Key: { conversationId: CONVERSATION, sk: removalSk('bob') },
      UpdateExpression: 'SET seq = :seq, #at = :at',
      ConditionExpression: 'attribute_exists(conversationId) AND attribute_not_exists(seq)',
      ExpressionAttributeNames: { '#at': 'at' },
      ExpressionAttributeValues: { ':seq': 7, ':at': 'then' },
    });
  });

  it('answers false when another attempt gave the record its seq first', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const set = await setRemovalSeq({ ddb, tables }, CONVERSATION, 'bob', { seq: 7, at: 'then' });

    // Assess
    expect(set).toBe(false);
  });
});

describe('claimRemoval', () => {
  it('moves claimedAt from the value read to now, only if nobody moved it or gave the record a seq', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const claimed = await claimRemoval({ ddb, tables }, CONVERSATION, 'bob', {
      staleClaimedAt: NOW - 60_000,
      now: NOW,
    });

    // Assess
    expect(claimed).toBe(true);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.conversations,
      Key: { conversationId: CONVERSATION, sk: removalSk('bob') },
      UpdateExpression: 'SET claimedAt = :now',
      ConditionExpression: 'claimedAt = :stale AND attribute_not_exists(seq)',
      ExpressionAttributeValues: { ':now': NOW, ':stale': NOW - 60_000 },
    });
  });

  it('answers false when another resend took the removal over first', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const claimed = await claimRemoval({ ddb, tables }, CONVERSATION, 'bob', {
      staleClaimedAt: NOW - 60_000,
      now: NOW,
    });

    // Assess
    expect(claimed).toBe(false);
  });
});

describe('takeTypingSlot', () => {
  it("sets typingAt on the member's item only if they did not type within the throttle window", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const taken = await takeTypingSlot(ddb, tables, CONVERSATION, 'alice', NOW);

    // Assess
    expect(taken).toBe(true);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.conversations,
      Key: { conversationId: CONVERSATION, sk: memberSk('alice') },
      UpdateExpression: 'SET typingAt = :now',
      ConditionExpression:
        'attribute_exists(conversationId) AND (attribute_not_exists(typingAt) OR typingAt <= :cutoff)',
      ExpressionAttributeValues: { ':now': NOW, ':cutoff': NOW - LIMITS.typingThrottleMs },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('answers false when the member typed within the window', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed({ conversationId: CONVERSATION, typingAt: NOW - 1 }));

    // Act
    const taken = await takeTypingSlot(ddb, tables, CONVERSATION, 'alice', NOW);

    // Assess
    expect(taken).toBe(false);
  });

  it('refuses a user who is not a member', async () => {
    // Prepare: the failed condition returns no item.
    ddbMock.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const attempt = takeTypingSlot(ddb, tables, CONVERSATION, 'mallory', NOW);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(NotAMemberError);
  });
});
