import { Logger } from '@aws-lambda-powertools/logger';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { REMOVAL_RESEND_WINDOW_MS } from '../../lambdas/conversations/membership';
import { createConversationsHandler } from '../../lambdas/conversations/routes';
import { toPushFrame } from '../../lambdas/fanout/fanout';
import { LIMITS } from '../../shared/limits';
import type { PostFn, PostResult } from '../../shared/poster';
import { parseQueueBody } from '../../shared/queue-body';
import { removalSk } from '../../shared/store/conversations';
import { messagesAfter } from '../../shared/store/messages';
import { META_SK, memberSk } from '../../shared/tables';
import { routeEvent } from '../support/api-gateway';
import { routeKitFakes } from '../support/route-kit';

const tables = {
  conversations: 'conversations-t',
  subscriptions: 'subscriptions-t',
  connections: 'connections-t',
  messages: 'messages-t',
};
const NOW = new Date('2030-01-02T03:04:05.000Z');
const CONVERSATION = 'conv-1';
const CONNECTION = 'alice-1';
const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/fanout.fifo';

const ddbMock = mockClient(DynamoDBDocumentClient);
const sqsMock = mockClient(SQSClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const sqs = new SQSClient({ region: 'us-east-1' });
const logger = new Logger({ serviceName: 'chat-membership-test', logLevel: 'SILENT' });

const delivered: PostResult = { status: 'delivered', attempts: 1 };
const fakePoster = () => vi.fn<PostFn>(async () => delivered);

function handlerWith(post: PostFn = fakePoster()) {
  return createConversationsHandler({
    ddb,
    tables,
    logger,
    ...routeKitFakes(),
    clock: () => NOW,
    ephemeral: { post },
    membership: { sqs, fanoutQueueUrl: QUEUE_URL },
  });
}

async function call(
  body: Record<string, unknown>,
  userId = 'alice',
  post: PostFn = fakePoster(),
): Promise<Record<string, unknown>> {
  const result = await handlerWith(post)(routeEvent({ body, userId, connectionId: CONNECTION, at: NOW }));
  return JSON.parse(result.body) as Record<string, unknown>;
}

/**
 * The conversations table: META (created by `createdBy`, `direct` if set) and one member item per entry
 * of `members` with its role (and `counted` for those in `counted`: their item took a conversation slot),
 * and the users' `profiles` (a user not in it lets anyone add them: most tests here are not about consent, and
 * by default strangers are invited), answered to the strongly consistent BatchGetItems.
 */
function givenConversation(
  members: Record<string, 'admin' | 'member' | undefined>,
  meta: { createdBy?: string; direct?: boolean; missing?: boolean } = {},
  removals: Record<string, Record<string, unknown>> = {},
  counted: string[] = [],
  profiles: Record<string, Record<string, unknown>> = {},
): void {
  ddbMock.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
    const keys = input.RequestItems?.[tables.conversations]?.Keys ?? [];
    const items = keys.flatMap((key): Record<string, unknown>[] => {
      const sk = String(key.sk);
      if (sk === 'PROFILE') {
        const profile = profiles[String(key.conversationId).slice('USER#'.length)];
        return [{ ...key, ...(profile ?? { whoCanAdd: 'anyone' }) }];
      }
      if (sk === META_SK) {
        return meta.missing
          ? []
          : [{ conversationId: CONVERSATION, sk, createdBy: meta.createdBy ?? 'alice', direct: meta.direct }];
      }
      const removed = Object.keys(removals).find((user) => removalSk(user) === sk);
      if (removed !== undefined) return [{ conversationId: CONVERSATION, sk, ...removals[removed] }];
      const userId = Object.keys(members).find((member) => memberSk(member) === sk);
      if (userId === undefined) return [];
      const role = members[userId];
      return [
        {
          conversationId: CONVERSATION,
          sk,
          memberId: userId,
          ...(role ? { role } : {}),
          ...(counted.includes(userId) ? { counted: true } : {}),
        },
      ];
    });
    return { Responses: { [tables.conversations]: items } };
  });
}

/** The conversation's subscriptions partition holds these (connection, user) pairs. */
function givenListeners(listeners: [connectionId: string, userId: string][]): void {
  ddbMock
    .on(QueryCommand, { TableName: tables.subscriptions })
    .resolves({ Items: listeners.map(([connectionId, userId]) => ({ connectionId, userId })) });
}

/** The counter hands out `seq` on the next reservation; the slot is empty and the queue accepts. */
function givenNextSeq(seq: number): void {
  ddbMock.on(UpdateCommand, { TableName: tables.conversations }).resolves({ Attributes: { lastSeq: seq } });
  ddbMock.on(PutCommand, { TableName: tables.messages }).resolves({});
  ddbMock.on(TransactWriteCommand).resolves({});
  ddbMock.on(DeleteCommand).resolves({});
  ddbMock.on(UpdateCommand, { TableName: tables.connections }).resolves({});
  sqsMock.on(SendMessageCommand).resolves({});
}

function expectNothingWritten(): void {
  expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
  expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
  expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
}

beforeEach(() => {
  ddbMock.reset();
  sqsMock.reset();
});

describe('removeMember', () => {
  it('deletes the member item with the member count, ends their subscriptions, then stores and enqueues the change under the next seq', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' });
    givenListeners([
      ['bob-1', 'bob'],
      ['alice-1', 'alice'],
      ['bob-2', 'bob'],
    ]);
    givenNextSeq(8);

    // Act
    const reply = await call({
      action: 'removeMember',
      requestId: 'r-1',
      conversationId: CONVERSATION,
      userId: 'bob',
    });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'removeMember',
      requestId: 'r-1',
      conversationId: CONVERSATION,
      userId: 'bob',
      removed: true,
      seq: 8,
    });
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
            Item: {
              conversationId: CONVERSATION,
              sk: removalSk('bob'),
              kind: 'member_removed',
              by: 'alice',
              claimedAt: NOW.getTime(),
            },
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
        // The caller is still an admin when the removal is written.
        {
          ConditionCheck: {
            TableName: tables.conversations,
            Key: { conversationId: CONVERSATION, sk: memberSk('alice') },
            ConditionExpression:
              'attribute_exists(conversationId) AND (attribute_not_exists(#role) OR #role = :admin)',
            ExpressionAttributeNames: { '#role': 'role' },
            ExpressionAttributeValues: { ':admin': 'admin' },
          },
        },
      ],
    });
    const deleted = ddbMock
      .commandCalls(DeleteCommand, { TableName: tables.subscriptions })
      .map((c) => c.args[0].input.Key);
    expect(deleted).toEqual([
      { conversationId: CONVERSATION, connectionId: 'bob-1' },
      { conversationId: CONVERSATION, connectionId: 'bob-2' },
    ]);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.conversations,
      Key: { conversationId: CONVERSATION, sk: META_SK },
      UpdateExpression: 'SET lastReservedAt = :at ADD lastSeq :one',
      ConditionExpression: 'attribute_exists(conversationId)',
    });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: {
        conversationId: CONVERSATION,
        seq: 8,
        kind: 'member_removed',
        userIds: ['bob'],
        by: 'alice',
        at: NOW.toISOString(),
        sentAt: NOW.toISOString(),
      },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageGroupId: CONVERSATION,
      MessageDeduplicationId: `${CONVERSATION}:8`,
    });
    const body = sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody ?? '';
    expect(JSON.parse(body)).toEqual({
      kind: 'membership',
      conversationId: CONVERSATION,
      seq: 8,
      event: 'member_removed',
      userIds: ['bob'],
      by: 'alice',
      at: NOW.toISOString(),
    });
    // The removal record gets the change's seq, once.
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.conversations,
      Key: { conversationId: CONVERSATION, sk: removalSk('bob') },
      UpdateExpression: 'SET seq = :seq, #at = :at',
      ConditionExpression: 'attribute_exists(conversationId) AND attribute_not_exists(seq)',
      ExpressionAttributeValues: { ':seq': 8, ':at': NOW.toISOString() },
    });
  });

  it('ends the subscriptions before it enqueues the change, so the fan-out no longer reaches the removed member', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' });
    givenListeners([['bob-1', 'bob']]);
    givenNextSeq(3);
    const order: string[] = [];
    ddbMock.on(DeleteCommand, { TableName: tables.subscriptions }).callsFake(() => {
      order.push('unsubscribe');
      return {};
    });
    sqsMock.on(SendMessageCommand).callsFake(() => {
      order.push('enqueue');
      return {};
    });

    // Act
    await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(order).toEqual(['unsubscribe', 'enqueue']);
  });

  it('lets an admin who is not the creator remove another member', async () => {
    // Prepare
    givenConversation({ carol: 'admin', bob: 'member' }, { createdBy: 'alice' });
    givenListeners([]);
    givenNextSeq(2);

    // Act
    const reply = await call(
      { action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' },
      'carol',
    );

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: true, seq: 2 });
  });

  it('lets the creator remove others even when their member item predates roles', async () => {
    // Prepare
    givenConversation({ alice: undefined, bob: undefined }, { createdBy: 'alice' });
    givenListeners([]);
    givenNextSeq(2);

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: true });
  });

  it('refuses a plain member who removes someone else with forbidden, and writes nothing', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member', carol: 'member' });

    // Act
    const reply = await call(
      { action: 'removeMember', conversationId: CONVERSATION, userId: 'carol' },
      'bob',
    );

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
    expect(String(reply.message)).toMatch(/creator or an admin/);
    expectNothingWritten();
  });

  it('refuses a creator who left and was added back, now a plain member, with forbidden', async () => {
    // Prepare: alice created the conversation, left, and bob added her again.
    givenConversation({ alice: 'member', bob: 'member', carol: 'member' }, { createdBy: 'alice' });

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'carol' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expectNothingWritten();
  });

  it('refuses a caller who is not a member with forbidden, and writes nothing', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' });

    // Act
    const reply = await call(
      { action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' },
      'mallory',
    );

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expectNothingWritten();
  });

  it('refuses a conversation that does not exist with forbidden, and writes nothing', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' }, { missing: true });

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expectNothingWritten();
  });

  it('refuses removeMember and leave in a direct conversation with invalid_request, and writes nothing', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' }, { direct: true });

    // Act
    const removed = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });
    const left = await call({ action: 'leave', conversationId: CONVERSATION }, 'bob');

    // Assess
    expect(removed).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(left).toMatchObject({ type: 'error', code: 'invalid_request' });
    expectNothingWritten();
  });

  it('acks removed: false and writes nothing when the user is not a member (a resend)', async () => {
    // Prepare
    givenConversation({ alice: 'admin' });

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', userId: 'bob', removed: false });
    expect(reply.seq).toBeUndefined();
    expectNothingWritten();
  });

  it('records nothing when a concurrent removal deleted the member item first', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' });
    ddbMock.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'cancelled',
        $metadata: {},
        CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }],
      }),
    );

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: false });
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('reserves the next seq when a reader filled the reserved one with a tombstone first', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' });
    givenListeners([]);
    givenNextSeq(0);
    let seq = 4;
    ddbMock
      .on(UpdateCommand, { TableName: tables.conversations })
      .callsFake(() => ({ Attributes: { lastSeq: seq++ } }));
    ddbMock
      .on(PutCommand, { TableName: tables.messages })
      .rejectsOnce(new ConditionalCheckFailedException({ message: 'taken', $metadata: {} }))
      .resolves({});

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: true, seq: 5 });
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, {
      MessageDeduplicationId: `${CONVERSATION}:5`,
    });
  });
});

describe('the users a change names hear it on every connection', () => {
  /** Connections per user, as the byUser index lists them. */
  function givenConnectionsOf(byUser: Record<string, string[]>): void {
    ddbMock.on(QueryCommand, { TableName: tables.connections }).callsFake((input) => ({
      Items: (byUser[String(input.ExpressionAttributeValues?.[':u'])] ?? []).map((connectionId) => ({
        connectionId,
      })),
    }));
  }

  it('posts member_removed to the removed user’s connections, whose subscriptions have ended', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' });
    givenListeners([['bob-1', 'bob']]);
    givenNextSeq(4);
    givenConnectionsOf({ bob: ['bob-1', 'bob-2'] });
    const post = fakePoster();

    // Act
    await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' }, 'alice', post);

    // Assess
    const frame = {
      type: 'membership',
      conversationId: CONVERSATION,
      seq: 4,
      event: 'member_removed',
      userIds: ['bob'],
      by: 'alice',
      at: NOW.toISOString(),
    };
    expect(post.mock.calls.map(([connectionId, data]) => [connectionId, JSON.parse(data)])).toEqual([
      ['bob-1', frame],
      ['bob-2', frame],
    ]);
  });

  it('posts member_added to the connections of each user added, who subscribe to nothing there yet', async () => {
    // Prepare
    givenConversation({ alice: 'admin' });
    givenNextSeq(2);
    givenConnectionsOf({ carol: ['carol-1'], dan: [] });
    const post = fakePoster();

    // Act
    const reply = await call(
      { action: 'addMembers', conversationId: CONVERSATION, members: ['carol', 'dan'] },
      'alice',
      post,
    );

    // Assess
    expect(reply).toMatchObject({ type: 'ack', added: ['carol', 'dan'], seq: 2 });
    expect(post.mock.calls.map(([connectionId, data]) => [connectionId, JSON.parse(data)])).toEqual([
      [
        'carol-1',
        expect.objectContaining({
          type: 'membership',
          seq: 2,
          event: 'member_added',
          userIds: ['carol', 'dan'],
        }),
      ],
    ]);
  });
});

describe('a new group tells the members its creation added', () => {
  it('posts member_added at seq 0 to each added member’s connections, taking no seq and enqueuing nothing', async () => {
    // Prepare: carol lets nobody add her, so she is invited instead; bob has two connections, dan none.
    givenConversation({}, {}, {}, [], { carol: { whoCanAdd: 'nobody' } });
    ddbMock.on(TransactWriteCommand).resolves({});
    ddbMock.on(QueryCommand, { TableName: tables.connections }).callsFake((input) => ({
      Items: (
        { bob: ['bob-1', 'bob-2'], carol: ['carol-1'] }[String(input.ExpressionAttributeValues?.[':u'])] ?? []
      ).map((connectionId) => ({ connectionId })),
    }));
    const post = fakePoster();

    // Act
    const reply = await call(
      { action: 'createConversation', members: ['bob', 'carol', 'dan'] },
      'alice',
      post,
    );

    // Assess
    const { conversationId } = reply.conversation as { conversationId: string };
    const frame = {
      type: 'membership',
      conversationId,
      seq: 0,
      event: 'member_added',
      userIds: ['bob', 'dan'],
      by: 'alice',
      at: NOW.toISOString(),
    };
    const posts = post.mock.calls.map(([connectionId, data]) => [connectionId, JSON.parse(data)]);
    expect(posts).toHaveLength(3);
    expect(posts).toEqual(
      expect.arrayContaining([
        ['bob-1', frame],
        ['bob-2', frame],
        ['carol-1', expect.objectContaining({ type: 'invitation', conversationId })],
      ]),
    );
    // As for an add, one byUser Query per user told (bob, dan; carol for her invitation), the creator not among them.
    const asked = ddbMock
      .commandCalls(QueryCommand)
      .filter((c) => c.args[0].input.TableName === tables.connections)
      .map((c) => c.args[0].input.ExpressionAttributeValues?.[':u']);
    expect(asked.sort()).toEqual(['bob', 'carol', 'dan']);
    // The creation is no entry of the history: no seq reserved, nothing stored or enqueued.
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
    expect(sqsMock.calls()).toHaveLength(0);
  });
});

describe('a resent removal', () => {
  const finished = {
    kind: 'member_removed',
    by: 'alice',
    claimedAt: NOW.getTime() - 60_000,
    seq: 8,
    at: 'then',
  };

  it('acks a finished removal with its seq and enqueues the same change again, reserving nothing', async () => {
    // Prepare: bob is gone; the record of alice's removal of him has seq 8.
    givenConversation({ alice: 'admin' }, {}, { bob: finished });
    sqsMock.on(SendMessageCommand).resolves({});

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', userId: 'bob', removed: true, seq: 8 });
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      MessageDeduplicationId: `${CONVERSATION}:8`,
    });
    const body = sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody ?? '';
    expect(JSON.parse(body)).toMatchObject({
      seq: 8,
      event: 'member_removed',
      userIds: ['bob'],
      by: 'alice',
    });
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('acks a resent leave as the first one was, not forbidden', async () => {
    // Prepare: bob left (his member item is gone); his ack was lost.
    givenConversation({ alice: 'admin' }, {}, { bob: { ...finished, kind: 'member_left', by: 'bob' } });
    sqsMock.on(SendMessageCommand).resolves({});

    // Act
    const reply = await call({ action: 'leave', conversationId: CONVERSATION }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'ack', action: 'leave', userId: 'bob', removed: true, seq: 8 });
  });

  it('answers busy, writing nothing, while the first attempt may still be running', async () => {
    // Prepare: the transaction went through 2 s ago; no seq yet.
    givenConversation(
      { alice: 'admin' },
      {},
      { bob: { kind: 'member_removed', by: 'alice', claimedAt: NOW.getTime() - 2_000 } },
    );

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'busy', retryAfterMs: LIMITS.writerLeaseMs - 2_000 });
    expectNothingWritten();
  });

  it('finishes a removal whose first attempt died after its transaction: subscriptions end and the change is recorded', async () => {
    // Prepare: the first attempt deleted bob's member item and died before anything else.
    const claimedAt = NOW.getTime() - LIMITS.writerLeaseMs - 1;
    givenConversation({ alice: 'admin' }, {}, { bob: { kind: 'member_removed', by: 'alice', claimedAt } });
    givenListeners([['bob-1', 'bob']]);
    givenNextSeq(9);

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: true, seq: 9 });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 1, {
      Key: { conversationId: CONVERSATION, sk: removalSk('bob') },
      UpdateExpression: 'SET claimedAt = :now',
      ConditionExpression: 'claimedAt = :stale AND attribute_not_exists(seq)',
      ExpressionAttributeValues: { ':now': NOW.getTime(), ':stale': claimedAt },
    });
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: tables.subscriptions,
      Key: { conversationId: CONVERSATION, connectionId: 'bob-1' },
    });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: expect.objectContaining({ seq: 9, kind: 'member_removed', userIds: ['bob'], by: 'alice' }),
    });
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, {
      MessageDeduplicationId: `${CONVERSATION}:9`,
    });
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('answers busy when another resend took the unfinished removal over first', async () => {
    // Prepare
    const claimedAt = NOW.getTime() - LIMITS.writerLeaseMs - 1;
    givenConversation({ alice: 'admin' }, {}, { bob: { kind: 'member_removed', by: 'alice', claimedAt } });
    ddbMock
      .on(UpdateCommand, { TableName: tables.conversations })
      .rejects(new ConditionalCheckFailedException({ message: 'taken', $metadata: {} }));

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'busy', retryAfterMs: 250 });
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it('treats a record older than the resend window as history: removed: false, nothing enqueued', async () => {
    // Prepare: alice removed bob long ago and removes him again (he is not a member).
    const old = { ...finished, claimedAt: NOW.getTime() - REMOVAL_RESEND_WINDOW_MS - 1 };
    givenConversation({ alice: 'admin' }, {}, { bob: old });

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: false });
    expectNothingWritten();
  });

  it('gives the record its seq once the change is stored, before the enqueue, so a failed enqueue is repaired by a resend', async () => {
    // Prepare: the queue refuses the change.
    givenConversation({ alice: 'admin', bob: 'member' });
    givenListeners([]);
    givenNextSeq(6);
    sqsMock.on(SendMessageCommand).rejects(new Error('SQS is down'));

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess: the error reaches the caller, and the record already names seq 6 for the resend to enqueue.
    expect(reply).toMatchObject({ type: 'error', code: 'internal_error' });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { conversationId: CONVERSATION, sk: removalSk('bob') },
      ExpressionAttributeValues: { ':seq': 6, ':at': NOW.toISOString() },
    });
  });

  it('acks its own seq when another attempt gave the record a seq first', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' });
    givenListeners([]);
    givenNextSeq(6);
    ddbMock
      .on(UpdateCommand, { Key: { conversationId: CONVERSATION, sk: removalSk('bob') } })
      .rejects(new ConditionalCheckFailedException({ message: 'has a seq', $metadata: {} }));

    // Act
    const reply = await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: true, seq: 6 });
  });

  it('leaves another admin’s removal alone: acked removed: false, nothing written', async () => {
    // Prepare: carol, another admin, removes bob, whom alice removed.
    givenConversation({ alice: 'admin', carol: 'admin' }, {}, { bob: finished });

    // Act
    const reply = await call(
      { action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' },
      'carol',
    );

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: false });
    expectNothingWritten();
  });
});

describe('subscribe racing a removal', () => {
  it('stores the subscription only in a transaction with the check that the caller is still a member', async () => {
    // Prepare: bob was removed after his last frame: the transaction finds no member item and writes nothing.
    ddbMock.on(GetCommand).resolves({ Item: { conversationId: CONVERSATION, lastSeq: 0 } });
    ddbMock.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'cancelled',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'None' }, { Code: 'ConditionalCheckFailed' }],
      }),
    );
    givenListeners([]);

    // Act
    const reply = await call({ action: 'subscribe', conversationId: CONVERSATION }, 'bob');

    // Assess: a removal deletes the member item and then lists the subscriptions, so this subscription
    // either committed before the delete (and the listing ends it) or was never written; none to take back.
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    const items = ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems;
    expect(items?.[2]).toEqual({
      ConditionCheck: {
        TableName: tables.conversations,
        Key: { conversationId: CONVERSATION, sk: memberSk('bob') },
        ConditionExpression: 'attribute_exists(conversationId)',
      },
    });
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
  });

  it('keeps the subscription of a caller who is still a member', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: { conversationId: CONVERSATION, lastSeq: 0 } });
    ddbMock.on(TransactWriteCommand).resolves({});
    givenListeners([]);

    // Act
    const reply = await call({ action: 'subscribe', conversationId: CONVERSATION }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'ack', action: 'subscribe' });
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
  });
});

describe('leave', () => {
  it('lets a plain member leave, recorded as member_left by themselves', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' });
    givenListeners([['bob-1', 'bob']]);
    givenNextSeq(6);

    // Act
    const reply = await call({ action: 'leave', requestId: 'l-1', conversationId: CONVERSATION }, 'bob');

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'leave',
      requestId: 'l-1',
      conversationId: CONVERSATION,
      userId: 'bob',
      removed: true,
      seq: 6,
    });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: expect.objectContaining({ seq: 6, kind: 'member_left', userIds: ['bob'], by: 'bob' }),
    });
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: tables.subscriptions,
      Key: { conversationId: CONVERSATION, connectionId: 'bob-1' },
    });
  });
});

describe('addMembers records its change in the conversation order', () => {
  it('stores and enqueues member_added with the users actually added, and acks its seq', async () => {
    // Prepare: alice and bob are members, carol is not.
    givenConversation({ alice: 'admin', bob: 'member' });
    givenNextSeq(12);

    // Act
    const reply = await call({
      action: 'addMembers',
      conversationId: CONVERSATION,
      members: ['bob', 'carol'],
    });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', added: ['carol'], seq: 12 });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: expect.objectContaining({ seq: 12, kind: 'member_added', userIds: ['carol'], by: 'alice' }),
    });
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, { MessageGroupId: CONVERSATION });
  });

  it('records nothing when nobody was added', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' });

    // Act
    const reply = await call({ action: 'addMembers', conversationId: CONVERSATION, members: ['bob'] });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', added: [] });
    expect(reply.seq).toBeUndefined();
    expectNothingWritten();
  });
});

describe('membership events on the fan-out path and in pages', () => {
  it('accepts a membership record from the queue and pushes it as a membership frame', () => {
    // Prepare
    const body = JSON.stringify({
      kind: 'membership',
      conversationId: CONVERSATION,
      seq: 3,
      event: 'member_left',
      userIds: ['bob'],
      by: 'bob',
      at: NOW.toISOString(),
    });

    // Act
    const parsed = parseQueueBody(body);

    // Assess
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(toPushFrame(parsed.record)).toEqual({
      type: 'membership',
      conversationId: CONVERSATION,
      seq: 3,
      event: 'member_left',
      userIds: ['bob'],
      by: 'bob',
      at: NOW.toISOString(),
    });
  });

  it('refuses a membership record with an unknown event as permanent', () => {
    // Act
    const parsed = parseQueueBody(
      JSON.stringify({
        kind: 'membership',
        conversationId: CONVERSATION,
        seq: 3,
        event: 'member_banned',
        userIds: ['bob'],
        by: 'bob',
        at: 'x',
      }),
    );

    // Assess
    expect(parsed.ok).toBe(false);
  });

  it('shows a stored change in a page as a tombstone with its kind, so clients that only skip tombstones skip it', async () => {
    // Prepare
    ddbMock.on(QueryCommand, { TableName: tables.messages }).resolves({
      Items: [
        { conversationId: CONVERSATION, seq: 1, senderId: 'alice', body: 'hi', sentAt: NOW.toISOString() },
        {
          conversationId: CONVERSATION,
          seq: 2,
          kind: 'member_removed',
          userIds: ['bob'],
          by: 'alice',
          at: NOW.toISOString(),
          sentAt: NOW.toISOString(),
        },
      ],
    });

    // Act
    const page = await messagesAfter(
      ddb,
      tables,
      CONVERSATION,
      0,
      { now: NOW, lastSeq: 2 },
      { record: vi.fn() },
    );

    // Assess
    expect(page.messages).toEqual([
      { conversationId: CONVERSATION, seq: 1, senderId: 'alice', body: 'hi', sentAt: NOW.toISOString() },
      {
        conversationId: CONVERSATION,
        seq: 2,
        tombstone: true,
        kind: 'member_removed',
        userIds: ['bob'],
        by: 'alice',
        at: NOW.toISOString(),
      },
    ]);
  });
});

describe('read events', () => {
  const moved = () => ddbMock.on(UpdateCommand, { TableName: tables.conversations }).resolves({});
  const givenMemberCount = (memberCount: number) =>
    ddbMock
      .on(GetCommand, { TableName: tables.conversations })
      .resolves({ Item: { memberCount, lastSeq: 10 } });

  it("posts {type:'read'} to every listener but the reader's own connection when the cursor moved", async () => {
    // Prepare
    moved();
    givenMemberCount(3);
    givenListeners([
      ['alice-1', 'alice'],
      ['alice-2', 'alice'],
      ['bob-1', 'bob'],
    ]);
    const post = fakePoster();

    // Act
    const reply = await call({ action: 'read', conversationId: CONVERSATION, seq: 7 }, 'alice', post);

    // Assess
    expect(reply).toMatchObject({ type: 'ack', readSeq: 7, moved: true });
    // One consistent read of META bounds the cursor and sizes the group.
    expect(ddbMock).toHaveReceivedCommandExactlyOnceWith(GetCommand, {
      Key: { conversationId: CONVERSATION, sk: META_SK },
      ConsistentRead: true,
      ProjectionExpression: 'lastSeq, lastReservedAt, memberCount',
    });
    const posts = post.mock.calls.map(([connectionId, data]) => [connectionId, JSON.parse(data)]);
    const event = { type: 'read', conversationId: CONVERSATION, userId: 'alice', seq: 7 };
    expect(posts).toEqual([
      ['alice-2', event],
      ['bob-1', event],
    ]);
  });

  it(`posts nothing in a group of more than ${LIMITS.maxReadEventMembers} members`, async () => {
    // Prepare
    moved();
    givenMemberCount(LIMITS.maxReadEventMembers + 1);
    givenListeners([['bob-1', 'bob']]);
    const post = fakePoster();

    // Act
    const reply = await call({ action: 'read', conversationId: CONVERSATION, seq: 7 }, 'alice', post);

    // Assess
    expect(reply).toMatchObject({ type: 'ack', moved: true });
    expect(post).not.toHaveBeenCalled();
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
  });

  it(`posts in a group of exactly ${LIMITS.maxReadEventMembers} members`, async () => {
    // Prepare
    moved();
    givenMemberCount(LIMITS.maxReadEventMembers);
    givenListeners([['bob-1', 'bob']]);
    const post = fakePoster();

    // Act
    await call({ action: 'read', conversationId: CONVERSATION, seq: 7 }, 'alice', post);

    // Assess
    expect(post).toHaveBeenCalledTimes(1);
  });

  it('posts nothing and reads nothing more when the cursor did not move', async () => {
    // Prepare
    givenMemberCount(3);
    ddbMock.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'failed',
        $metadata: {},
        Item: { conversationId: { S: CONVERSATION }, readSeq: { N: '9' } },
      }),
    );
    const post = fakePoster();

    // Act
    const reply = await call({ action: 'read', conversationId: CONVERSATION, seq: 4 }, 'alice', post);

    // Assess
    expect(reply).toMatchObject({ type: 'ack', readSeq: 9, moved: false });
    expect(post).not.toHaveBeenCalled();
    expect(ddbMock).toHaveReceivedCommandTimes(GetCommand, 1); // META, before the update
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
  });
});

describe('roles', () => {
  /** The member items as the consistent Query of listStandings returns them. */
  function givenStandings(members: [userId: string, joinedAt: string, role?: string][]): void {
    ddbMock.on(QueryCommand, { TableName: tables.conversations }).resolves({
      Items: members.map(([memberId, joinedAt, role]) => ({ memberId, joinedAt, ...(role ? { role } : {}) })),
    });
  }

  const adminCheck = (userId: string) => ({
    ConditionCheck: {
      TableName: tables.conversations,
      Key: { conversationId: CONVERSATION, sk: memberSk(userId) },
      ConditionExpression:
        'attribute_exists(conversationId) AND (attribute_not_exists(#role) OR #role = :admin)',
      ExpressionAttributeNames: { '#role': 'role' },
      ExpressionAttributeValues: { ':admin': 'admin' },
    },
  });

  const promotion = (userId: string) => ({
    Update: {
      TableName: tables.conversations,
      Key: { conversationId: CONVERSATION, sk: memberSk(userId) },
      UpdateExpression: 'SET #role = :admin',
      ConditionExpression:
        'attribute_exists(conversationId) AND (attribute_not_exists(#role) OR #role <> :admin)',
      ExpressionAttributeNames: { '#role': 'role' },
      ExpressionAttributeValues: { ':admin': 'admin' },
    },
  });

  /** The items after the removal's own four (member item, memberCount, removal record, roster). */
  const roleItems = () =>
    ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.slice(4);

  it('promotes the longest-standing member in the transaction of the last admin leaving, and records it after the leave', async () => {
    // Prepare: carol joined before dave; bob is the one who joined last.
    givenConversation({ alice: 'admin', bob: 'member', carol: 'member', dave: 'member' });
    givenStandings([
      ['alice', '2030-01-01T00:00:00.000Z', 'admin'],
      ['bob', '2030-01-01T00:00:09.000Z', 'member'],
      ['carol', '2030-01-01T00:00:01.000Z', 'member'],
      ['dave', '2030-01-01T00:00:01.000Z', 'member'],
    ]);
    givenListeners([]);
    givenNextSeq(4);

    // Act
    const reply = await call({ action: 'leave', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: true, seq: 4 });
    expect(roleItems()).toEqual([promotion('carol')]);
    const recorded = ddbMock
      .commandCalls(PutCommand, { TableName: tables.messages })
      .map((c) => c.args[0].input.Item?.kind);
    expect(recorded).toEqual(['member_left', 'member_promoted']);
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: expect.objectContaining({ kind: 'member_promoted', userIds: ['carol'], by: 'alice' }),
    });
  });

  it('checks in the transaction that another admin is still there instead of promoting anyone', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'admin', carol: 'member' });
    givenStandings([
      ['alice', '2030-01-01T00:00:00.000Z', 'admin'],
      ['bob', '2030-01-01T00:00:05.000Z', 'admin'],
      ['carol', '2030-01-01T00:00:01.000Z', 'member'],
    ]);
    givenListeners([]);
    givenNextSeq(4);

    // Act
    await call({ action: 'leave', conversationId: CONVERSATION });

    // Assess
    expect(roleItems()).toEqual([adminCheck('bob')]);
  });

  it('reads the roles again when the other admin left at the same moment, then promotes a successor', async () => {
    // Prepare: bob's check fails (he left meanwhile); the second read finds him gone.
    givenConversation({ alice: 'admin', bob: 'admin', carol: 'member' });
    ddbMock
      .on(QueryCommand, { TableName: tables.conversations })
      .resolvesOnce({
        Items: [
          { memberId: 'alice', joinedAt: '2030-01-01T00:00:00.000Z', role: 'admin' },
          { memberId: 'bob', joinedAt: '2030-01-01T00:00:05.000Z', role: 'admin' },
          { memberId: 'carol', joinedAt: '2030-01-01T00:00:01.000Z', role: 'member' },
        ],
      })
      .resolves({
        Items: [
          { memberId: 'alice', joinedAt: '2030-01-01T00:00:00.000Z', role: 'admin' },
          { memberId: 'carol', joinedAt: '2030-01-01T00:00:01.000Z', role: 'member' },
        ],
      });
    givenListeners([]);
    givenNextSeq(4);
    ddbMock
      .on(TransactWriteCommand)
      .rejectsOnce(
        new TransactionCanceledException({
          message: 'Transaction cancelled',
          $metadata: {},
          CancellationReasons: [
            { Code: 'None' },
            { Code: 'None' },
            { Code: 'None' },
            { Code: 'ConditionalCheckFailed' },
          ],
        }),
      )
      .resolves({});

    // Act
    const reply = await call({ action: 'leave', conversationId: CONVERSATION });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: true });
    const attempts = ddbMock
      .commandCalls(TransactWriteCommand)
      .map((c) => c.args[0].input.TransactItems?.slice(4));
    expect(attempts).toEqual([[adminCheck('bob')], [promotion('carol')]]);
  });

  it('gives back the conversation slot of a member whose item took one', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' }, {}, {}, ['bob']);
    givenListeners([]);
    givenNextSeq(2);

    // Act
    await call({ action: 'removeMember', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(roleItems()).toEqual([
      {
        Update: {
          TableName: tables.conversations,
          Key: { conversationId: 'USER#bob', sk: 'PROFILE' },
          UpdateExpression: 'ADD conversationCount :minusOne',
          ExpressionAttributeValues: { ':minusOne': -1 },
        },
      },
      adminCheck('alice'),
    ]);
  });

  it('lets an admin promote a member: one transaction with the check that the caller is still an admin, then member_promoted', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member' });
    givenNextSeq(5);

    // Act
    const reply = await call({
      action: 'promote',
      requestId: 'p-1',
      conversationId: CONVERSATION,
      userId: 'bob',
    });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'promote',
      requestId: 'p-1',
      conversationId: CONVERSATION,
      userId: 'bob',
      promoted: true,
      seq: 5,
    });
    expect(ddbMock).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [promotion('bob'), adminCheck('alice')],
    });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: expect.objectContaining({ seq: 5, kind: 'member_promoted', userIds: ['bob'], by: 'alice' }),
    });
  });

  it('acks promoted: false and writes nothing when the user is an admin already', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'admin' });

    // Act
    const reply = await call({ action: 'promote', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', promoted: false });
    expectNothingWritten();
  });

  it('refuses a plain member who promotes with forbidden, and writes nothing', async () => {
    // Prepare
    givenConversation({ alice: 'admin', bob: 'member', carol: 'member' });

    // Act
    const reply = await call({ action: 'promote', conversationId: CONVERSATION, userId: 'carol' }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
    expectNothingWritten();
  });

  it.each([
    ['a user who is not a member', { direct: false }, 'invalid_request'],
    ['a direct conversation', { direct: true }, 'invalid_request'],
  ])('refuses promoting in %s, and writes nothing', async (_case, meta, code) => {
    // Prepare
    givenConversation({ alice: 'admin', ...(meta.direct ? { bob: 'member' } : {}) }, meta);

    // Act
    const reply = await call({ action: 'promote', conversationId: CONVERSATION, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code });
    expectNothingWritten();
  });
});

describe('the block list', () => {
  const profileKey = { conversationId: 'USER#alice', sk: 'PROFILE' };

  it('adds the user to the caller’s block list with one conditional update, bounded in size', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const reply = await call({ action: 'block', requestId: 'b-1', userId: 'mallory' });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'block',
      requestId: 'b-1',
      userId: 'mallory',
      blocked: true,
      changed: true,
    });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.conversations,
      Key: profileKey,
      UpdateExpression: 'ADD blocked :user',
      ConditionExpression:
        'NOT contains(blocked, :id) AND (attribute_not_exists(blocked) OR size(blocked) < :max)',
      ExpressionAttributeValues: {
        ':user': new Set(['mallory']),
        ':id': 'mallory',
        ':max': LIMITS.maxBlockedUsers,
      },
    });
  });

  it('acks changed: false when the user is blocked already', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: { blocked: { SS: ['mallory'] } },
      }),
    );

    // Act
    const reply = await call({ action: 'block', userId: 'mallory' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', blocked: true, changed: false });
  });

  it('refuses a full block list with limit_exceeded', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: { blocked: { SS: ['someone-else'] } },
      }),
    );

    // Act
    const reply = await call({ action: 'block', userId: 'mallory' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'limit_exceeded', retryable: false });
  });

  it('refuses blocking oneself with invalid_request, writing nothing', async () => {
    // Act
    const reply = await call({ action: 'block', userId: 'alice' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expectNothingWritten();
  });

  it('takes the user off the list, and lists the rest sorted', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    ddbMock.on(GetCommand).resolves({ Item: { ...profileKey, blocked: new Set(['zed', 'bob']) } });

    // Act
    const unblocked = await call({ action: 'unblock', userId: 'mallory' });
    const listed = await call({ action: 'listBlocked' });

    // Assess
    expect(unblocked).toMatchObject({ type: 'ack', userId: 'mallory', blocked: false, changed: true });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: profileKey,
      UpdateExpression: 'DELETE blocked :user',
      ConditionExpression: 'contains(blocked, :id)',
    });
    expect(listed).toMatchObject({ type: 'ack', userIds: ['bob', 'zed'] });
  });
});

describe('consent: invitations instead of membership', () => {
  const invitePut = (userId: string, conversationId: string, by = 'alice', byAdmin = true) => ({
    Put: {
      TableName: tables.conversations,
      Item: {
        conversationId: `USER#${userId}`,
        sk: `INVITE#${conversationId}`,
        invitedTo: conversationId,
        invitedBy: by,
        invitedAt: NOW.toISOString(),
        byAdmin,
      },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    },
  });

  const invitationTake = (userId: string, seen: string) => ({
    Update: {
      TableName: tables.conversations,
      Key: { conversationId: `USER#${userId}`, sk: 'PROFILE' },
      UpdateExpression: 'ADD invitationCount :one',
      ConditionExpression:
        '(attribute_not_exists(invitationCount) OR invitationCount < :cap) AND NOT contains(blocked, :by) AND whoCanAdd = :seen',
      ExpressionAttributeValues: {
        ':one': 1,
        ':cap': LIMITS.maxPendingInvitations,
        ':by': 'alice',
        ':seen': seen,
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
  });

  /** The byMember index: each user's conversations. */
  function givenConversationsOf(byUser: Record<string, string[]>): void {
    ddbMock
      .on(QueryCommand, { IndexName: 'byMember' })
      .callsFake((input: { ExpressionAttributeValues?: Record<string, unknown> }) => {
        const userId = String(input.ExpressionAttributeValues?.[':u']);
        return { Items: (byUser[userId] ?? []).map((conversationId) => ({ conversationId })) };
      });
  }

  it('invites, rather than adds, a user who lets nobody add them, in the transaction that adds the others', async () => {
    // Prepare
    givenConversation({ alice: 'admin' }, {}, {}, [], { bob: { whoCanAdd: 'nobody' } });
    givenNextSeq(3);
    ddbMock
      .on(QueryCommand, { TableName: tables.connections })
      .resolves({ Items: [{ connectionId: 'bob-1' }] });
    const post = fakePoster();

    // Act
    const reply = await call(
      { action: 'addMembers', conversationId: CONVERSATION, members: ['bob', 'carol'] },
      'alice',
      post,
    );

    // Assess
    expect(reply).toMatchObject({ type: 'ack', added: ['carol'], invited: ['bob'], seq: 3 });
    const [items = []] = ddbMock
      .commandCalls(TransactWriteCommand)
      .map((c) => c.args[0].input.TransactItems ?? []);
    expect(items[0]?.Update?.ExpressionAttributeValues).toMatchObject({ ':added': 1 });
    expect(items.slice(1, 3)).toEqual([invitePut('bob', CONVERSATION), invitationTake('bob', 'nobody')]);
    expect(items[3]?.Put?.Item).toMatchObject({ sk: memberSk('carol') });
    // Only carol's arrival is in the order; bob hears of his invitation on his connection.
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: expect.objectContaining({ kind: 'member_added', userIds: ['carol'] }),
    });
    const invitation = post.mock.calls.map(([connectionId, data]) => [connectionId, JSON.parse(data)]);
    expect(invitation).toContainEqual([
      'bob-1',
      { type: 'invitation', conversationId: CONVERSATION, invitedBy: 'alice', invitedAt: NOW.toISOString() },
    ]);
  });

  it('adds a contacts-only user who shares a group with the caller, and invites one who shares only a direct conversation', async () => {
    // Prepare
    givenConversation({ alice: 'admin' }, {}, {}, [], {
      bob: { whoCanAdd: 'contacts' },
      carol: { whoCanAdd: 'contacts' },
    });
    givenConversationsOf({ alice: ['dm-ac', 'group-ab'], bob: ['group-ab'], carol: ['dm-ac'] });
    givenNextSeq(3);

    // Act
    const reply = await call({
      action: 'addMembers',
      conversationId: CONVERSATION,
      members: ['bob', 'carol'],
    });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', added: ['bob'], invited: ['carol'] });
  });

  it('by default invites a user who never chose, unless they share a group with the caller', async () => {
    // Prepare: bob and carol have profiles without a setting; only bob shares a group with alice.
    givenConversation({ alice: 'admin' }, {}, {}, [], { bob: {}, carol: {} });
    givenConversationsOf({ alice: ['dm-ac', 'group-ab'], bob: ['group-ab'], carol: ['dm-ac'] });
    givenNextSeq(3);

    // Act
    const reply = await call({
      action: 'addMembers',
      conversationId: CONVERSATION,
      members: ['bob', 'carol'],
    });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', added: ['bob'], invited: ['carol'] });
  });

  it('answers busy, writing nothing, when the user changed who may add them while the add was on its way', async () => {
    // Prepare: read as `anyone`, but bob's profile says `nobody` when the transaction runs.
    givenConversation({ alice: 'admin' });
    ddbMock.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'Transaction cancelled',
        $metadata: {},
        CancellationReasons: [
          { Code: 'None' },
          { Code: 'None' },
          { Code: 'ConditionalCheckFailed', Item: { whoCanAdd: { S: 'nobody' } } },
        ],
      }),
    );

    // Act
    const reply = await call({ action: 'addMembers', conversationId: CONVERSATION, members: ['bob'] });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'busy', retryable: true });
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('makes an accepted invitation a membership in one transaction, recorded as member_added by the inviter', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({
      Item: { invitedTo: CONVERSATION, invitedBy: 'alice', invitedAt: NOW.toISOString(), byAdmin: false },
    });
    givenNextSeq(9);

    // Act
    const reply = await call({ action: 'accept', conversationId: CONVERSATION }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'ack', conversationId: CONVERSATION, joined: true, seq: 9 });
    const items = ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items.map((item) => Object.keys(item)[0])).toEqual([
      'Delete',
      'Update',
      'Put',
      'Update',
      'ConditionCheck',
      'Update',
    ]);
    expect(items[0]?.Delete?.Key).toEqual({ conversationId: 'USER#bob', sk: `INVITE#${CONVERSATION}` });
    expect(items[1]?.Update).toMatchObject({
      Key: { conversationId: 'USER#bob', sk: 'PROFILE' },
      UpdateExpression: 'ADD conversationCount :one, invitationCount :minusOne',
    });
    expect(items[2]?.Put?.Item).toMatchObject({
      sk: memberSk('bob'),
      addedBy: 'alice',
      role: 'member',
      counted: true,
    });
    expect(items[3]?.Update).toMatchObject({ Key: { conversationId: CONVERSATION, sk: META_SK } });
    // The inviter was no admin: an admin's removal since then still keeps bob out.
    expect(items[4]?.ConditionCheck?.Key).toEqual({ conversationId: CONVERSATION, sk: removalSk('bob') });
    // Bob joins the roster that names the group in its members' lists.
    expect(items[5]?.Update).toMatchObject({
      Key: { conversationId: CONVERSATION, sk: 'ROSTER' },
      UpdateExpression: 'ADD userIds :ids',
      ExpressionAttributeValues: { ':ids': new Set(['bob']) },
    });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: expect.objectContaining({ kind: 'member_added', userIds: ['bob'], by: 'alice' }),
    });
  });

  it('acks joined: false and writes nothing when there is no invitation', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});

    // Act
    const reply = await call({ action: 'accept', conversationId: CONVERSATION }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'ack', joined: false });
    expectNothingWritten();
  });

  it('declines by deleting the invitation and giving back its pending slot, recording nothing', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const reply = await call({ action: 'decline', conversationId: CONVERSATION }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'ack', declined: true });
    const items = ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items.map((item) => item.Delete?.Key ?? item.Update?.UpdateExpression)).toEqual([
      { conversationId: 'USER#bob', sk: `INVITE#${CONVERSATION}` },
      'ADD invitationCount :minusOne',
    ]);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('lists the pending invitations newest first, and stores the setting of who may add', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({
      Items: [
        { invitedTo: 'c-old', invitedBy: 'alice', invitedAt: '2030-01-01T00:00:00.000Z', byAdmin: true },
        {
          invitedTo: 'c-new',
          invitedBy: 'carol',
          invitedAt: '2030-01-02T00:00:00.000Z',
          byAdmin: true,
          title: 'T',
        },
      ],
    });
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const listed = await call({ action: 'listInvitations' }, 'bob');
    const set = await call({ action: 'setWhoCanAdd', whoCanAdd: 'contacts' }, 'bob');

    // Assess
    expect(listed).toMatchObject({
      type: 'ack',
      invitations: [
        { conversationId: 'c-new', invitedBy: 'carol', invitedAt: '2030-01-02T00:00:00.000Z', title: 'T' },
        { conversationId: 'c-old', invitedBy: 'alice', invitedAt: '2030-01-01T00:00:00.000Z' },
      ],
    });
    expect(set).toMatchObject({ type: 'ack', whoCanAdd: 'contacts' });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { conversationId: 'USER#bob', sk: 'PROFILE' },
      UpdateExpression: 'SET whoCanAdd = :who',
      ExpressionAttributeValues: { ':who': 'contacts' },
    });
  });
});
