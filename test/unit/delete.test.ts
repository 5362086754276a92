/** The delete route: a sender deletes their message, in three requests (G1). */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { encodeQueueBody } from '../../shared/queue-body';
import { SEND_TOLERANCE_MS } from '../../shared/store/conversations';
import { memberSk } from '../../shared/tables';
import {
  awsCalls,
  ddbMock,
  expectNothingEnqueued,
  givenConditionFails,
  invoke,
  NOW,
  QUEUE_URL,
  SENT_AT,
  sqsMock,
  storedItem,
  TABLE_NAMES,
  useEditFunctionMocks,
} from './fakes/edit-function';

useEditFunctionMocks();

describe('delete', () => {
  it('removes the body, marks the message deleted with a version bump, enqueues the deleted event and only then acks', async () => {
    // Act
    const reply = await invoke({ action: 'delete' });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'delete',
      requestId: 'r-1',
      conversationId: 'c1',
      seq: 7,
      version: 1,
      deletedAt: NOW.toISOString(),
      duplicate: false,
    });
    expect(awsCalls()).toEqual(['UpdateCommand', 'UpdateCommand', 'SendMessageCommand']);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE_NAMES.messages,
      Key: { conversationId: 'c1', seq: 7 },
      UpdateExpression:
        'SET deleted = :true, deletedAt = :at REMOVE body, editedAt, attachment ADD version :one',
      ConditionExpression: 'senderId = :sender AND attribute_not_exists(deleted)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageGroupId: 'c1',
      MessageDeduplicationId: 'c1:7:v1',
      MessageBody: encodeQueueBody({
        kind: 'delete',
        conversationId: 'c1',
        seq: 7,
        deletedAt: NOW.toISOString(),
        version: 1,
      }),
    });
  });

  it('acks a second delete with the stored version and enqueues the event again', async () => {
    // Prepare
    givenConditionFails(storedItem({ body: undefined, deleted: true, deletedAt: SENT_AT, version: 2 }));

    // Act
    const reply = await invoke({ action: 'delete' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', version: 2, deletedAt: SENT_AT, duplicate: true });
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, { MessageDeduplicationId: 'c1:7:v2' });
  });

  it('gives no ack when the enqueue fails', async () => {
    // Prepare
    sqsMock.on(SendMessageCommand).rejects(new Error('SQS is unreachable'));

    // Act
    const reply = await invoke({ action: 'delete' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', retryable: true });
  });

  it.each([
    ["someone else's message", storedItem({ senderId: 'alice' }), 'bob', 'forbidden'],
    ['a seq with no item', undefined, 'alice', 'not_found'],
    [
      "a dead writer's tombstone",
      marshall({ conversationId: 'c1', seq: 7, tombstone: true }),
      'alice',
      'not_found',
    ],
  ])('refuses to delete %s (%s… %s)', async (_case, item, userId, code) => {
    // Prepare
    givenConditionFails(item);

    // Act
    const reply = await invoke({ action: 'delete' }, userId);

    // Assess
    expect(reply).toMatchObject({ type: 'error', code });
    expectNothingEnqueued();
  });

  it('refuses a non-member before touching the message', async () => {
    // Act
    const reply = await invoke({ action: 'delete' }, 'mallory');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, { TableName: TABLE_NAMES.messages });
  });

  it.each(['edit', 'delete'] as const)(
    'takes a token of the send bucket, so an %s over the rate is rate_limited and touches nothing',
    async (action) => {
      // Prepare: alice's bucket is empty for another second.
      const emptyUntil = NOW.getTime() + SEND_TOLERANCE_MS + 1_000;
      ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.conversations }).rejects(
        new ConditionalCheckFailedException({
          message: 'failed',
          $metadata: {},
          Item: { conversationId: { S: 'c1' }, sendTat: { N: String(emptyUntil) } },
        }),
      );

      // Act
      const reply = await invoke(action === 'edit' ? { action, body: 'again' } : { action });

      // Assess
      expect(reply).toMatchObject({
        type: 'error',
        code: 'rate_limited',
        retryable: true,
        retryAfterMs: 1_000,
      });
      expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
        TableName: TABLE_NAMES.conversations,
        Key: { conversationId: 'c1', sk: memberSk('alice') },
      });
      expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, { TableName: TABLE_NAMES.messages });
      expectNothingEnqueued();
    },
  );
});
