/** The edit route: a sender replaces the body of their message, in three requests (G1). */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { THROTTLED_RETRY_MS } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { encodeQueueBody } from '../../shared/queue-body';
import {
  awsCalls,
  conditionFailed,
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

describe('edit', () => {
  it('stores the new body with an atomic version bump, enqueues the edited event in the group, and only then acks: three AWS calls', async () => {
    // Act
    const reply = await invoke({ action: 'edit', body: 'hello, edited' });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'edit',
      requestId: 'r-1',
      conversationId: 'c1',
      seq: 7,
      version: 1,
      editedAt: NOW.toISOString(),
      duplicate: false,
    });
    expect(awsCalls()).toEqual(['UpdateCommand', 'UpdateCommand', 'SendMessageCommand']);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE_NAMES.messages,
      Key: { conversationId: 'c1', seq: 7 },
      UpdateExpression: 'SET body = :body, editedAt = :at ADD version :one',
      ConditionExpression: 'senderId = :sender AND attribute_not_exists(deleted) AND body <> :body',
      ExpressionAttributeValues: {
        ':body': 'hello, edited',
        ':at': NOW.toISOString(),
        ':one': 1,
        ':sender': 'alice',
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageGroupId: 'c1',
      MessageDeduplicationId: 'c1:7:v1',
      MessageBody: encodeQueueBody({
        kind: 'edit',
        conversationId: 'c1',
        seq: 7,
        body: 'hello, edited',
        editedAt: NOW.toISOString(),
        version: 1,
      }),
    });
  });

  it('gives no ack when the enqueue fails, and a resend of the same edit re-enqueues the stored version', async () => {
    // Prepare
    sqsMock.on(SendMessageCommand).rejectsOnce(new Error('SQS is unreachable'));

    // Act
    const failed = await invoke({ action: 'edit', body: 'hello, edited' });
    givenConditionFails(storedItem({ body: 'hello, edited', editedAt: NOW.toISOString(), version: 1 }));
    const resent = await invoke({ action: 'edit', body: 'hello, edited' });

    // Assess
    expect(failed).toMatchObject({ type: 'error', requestId: 'r-1', retryable: true });
    expect(resent).toMatchObject({ type: 'ack', version: 1, editedAt: NOW.toISOString(), duplicate: true });
    const dedupIds = sqsMock
      .commandCalls(SendMessageCommand)
      .map((call) => call.args[0].input.MessageDeduplicationId);
    expect(dedupIds).toEqual(['c1:7:v1', 'c1:7:v1']);
  });

  it('carries the version the atomic update produced, so a concurrent edit is not a conflict and the newest wins', async () => {
    // Prepare: another edit of the same message landed just before this one, so this one makes version 3.
    ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.messages }).resolves({
      Attributes: { senderId: 'alice', body: 'third', editedAt: NOW.toISOString(), version: 3 },
    });

    // Act
    const reply = await invoke({ action: 'edit', body: 'third' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', version: 3, duplicate: false });
    const messageUpdates = ddbMock.commandCalls(UpdateCommand, { TableName: TABLE_NAMES.messages });
    expect(messageUpdates).toHaveLength(1);
    const update = messageUpdates[0]?.args[0].input;
    expect(update?.ConditionExpression).not.toContain('version');
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, { MessageDeduplicationId: 'c1:7:v3' });
    const body = JSON.parse(String(sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody));
    expect(body).toMatchObject({ kind: 'edit', body: 'third', version: 3 });
  });

  it("refuses a member's edit of someone else's message with forbidden and enqueues nothing", async () => {
    // Prepare
    givenConditionFails(storedItem({ senderId: 'alice' }));

    // Act
    const reply = await invoke({ action: 'edit', body: 'bob was here' }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', retryable: false, requestId: 'r-1' });
    expectNothingEnqueued();
  });

  it('refuses a non-member with forbidden before touching the message', async () => {
    // Act
    const reply = await invoke({ action: 'edit', body: 'hi' }, 'mallory');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, { TableName: TABLE_NAMES.messages });
    expectNothingEnqueued();
  });

  it.each([
    ['a seq with no item', undefined],
    [
      "a dead writer's tombstone",
      marshall({ conversationId: 'c1', seq: 7, tombstone: true, sentAt: SENT_AT }),
    ],
    ['a deleted message', storedItem({ body: undefined, deleted: true, deletedAt: SENT_AT, version: 1 })],
  ])('answers not_found for %s and enqueues nothing', async (_case, item) => {
    // Prepare
    givenConditionFails(item);

    // Act
    const reply = await invoke({ action: 'edit', body: 'new' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'not_found', retryable: false });
    expectNothingEnqueued();
  });

  it.each([
    ['a lone surrogate', { body: 'broken \ud83d' }, 'invalid_request'],
    ['an empty body', { body: '' }, 'invalid_request'],
    ['a body over the limit', { body: 'x'.repeat(LIMITS.maxBodyBytes + 1) }, 'payload_too_large'],
    ['seq 0', { seq: 0, body: 'hi' }, 'invalid_request'],
    ['a missing seq', { seq: undefined, body: 'hi' }, 'invalid_request'],
    ['an unknown field', { body: 'hi', senderId: 'bob' }, 'invalid_request'],
  ])('refuses %s with %s before any AWS call', async (_case, fields, code) => {
    // Act
    const reply = await invoke({ action: 'edit', ...fields });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code });
    expect(awsCalls()).toEqual([]);
  });

  it('acks an edit of a never-edited message to its own body as version 0 without enqueuing', async () => {
    // Prepare
    givenConditionFails(storedItem({ body: 'hello' }));

    // Act
    const reply = await invoke({ action: 'edit', body: 'hello' });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'edit',
      requestId: 'r-1',
      conversationId: 'c1',
      seq: 7,
      version: 0,
      duplicate: true,
    });
    expectNothingEnqueued();
  });

  it('answers busy with retryAfterMs when DynamoDB throttles', async () => {
    // Prepare
    ddbMock
      .on(UpdateCommand, { TableName: TABLE_NAMES.messages })
      .rejects(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));

    // Act
    const reply = await invoke({ action: 'edit', body: 'new' });

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'busy',
      retryable: true,
      retryAfterMs: THROTTLED_RETRY_MS,
    });
    expectNothingEnqueued();
  });
});
describe('a resent send of a message deleted since', () => {
  it('acks the original seq as a duplicate and pushes nothing again', async () => {
    // Prepare: the claim of m-1 is finished with seq 7, whose message was deleted; alice has send tokens.
    ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.conversations }).resolves({});
    ddbMock
      .on(PutCommand, { TableName: TABLE_NAMES.idempotency })
      .rejects(
        conditionFailed(
          marshall({ idempotencyKey: 'c1#alice#m-1', claimToken: 't', seq: 7, sentAt: SENT_AT }),
        ),
      );
    ddbMock.on(GetCommand, { TableName: TABLE_NAMES.messages }).resolves({
      Item: {
        conversationId: 'c1',
        seq: 7,
        senderId: 'alice',
        sentAt: SENT_AT,
        deleted: true,
        deletedAt: SENT_AT,
        version: 1,
      },
    });

    // Act
    const reply = await invoke({ action: 'send', seq: undefined, clientMessageId: 'm-1', body: 'hello' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', action: 'send', seq: 7, duplicate: true });
    expectNothingEnqueued();
  });
});
