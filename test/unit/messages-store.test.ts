/** The messages store: one entry by seq, the conditional writes of new entries and changes, batch reads. */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import {
  editBody,
  fillHole,
  getEntries,
  getMessage,
  markDeleted,
  messagesAfter,
  messagesBefore,
  putMembershipEntry,
  putMessage,
} from '../../shared/store/messages';
import {
  CONVERSATION,
  ddb,
  ddbMock,
  givenStored,
  NOW,
  OLD,
  stored,
  tables,
  tombstone,
  tombstonesWritten,
  useMessagesTableMock,
  witness,
} from './fakes/stored-messages';

useMessagesTableMock();

describe('getMessage', () => {
  it('reads one message by seq, strongly consistent, and returns undefined when there is none', async () => {
    // Prepare
    ddbMock.on(GetCommand, { Key: { conversationId: CONVERSATION, seq: 3 } }).resolves({ Item: stored(3) });
    ddbMock.on(GetCommand, { Key: { conversationId: CONVERSATION, seq: 4 } }).resolves({});

    // Act
    const found = await getMessage(ddb, tables, CONVERSATION, 3);
    const missing = await getMessage(ddb, tables, CONVERSATION, 4);

    // Assess
    expect(found).toEqual({
      conversationId: CONVERSATION,
      seq: 3,
      senderId: stored(3).senderId,
      body: 'message 3',
      sentAt: stored(3).sentAt,
    });
    expect(missing).toBeUndefined();
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      TableName: tables.messages,
      ConsistentRead: true,
    });
  });

  it('returns undefined for a seq filled with a tombstone', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: { ...tombstone(5), sentAt: OLD } });

    // Act
    const found = await getMessage(ddb, tables, CONVERSATION, 5);

    // Assess
    expect(found).toBeUndefined();
  });
});
describe('fillHole', () => {
  it('writes a tombstone only where nothing is stored and says whether it did', async () => {
    // Prepare: seq 5 is free, seq 6 was taken by its writer.
    givenStored([stored(6)]);

    // Act
    const filled = await fillHole(ddb, tables, CONVERSATION, 5, NOW, { record: vi.fn() });
    const taken = await fillHole(ddb, tables, CONVERSATION, 6, NOW, { record: vi.fn() });

    // Assess
    expect(filled).toBe(true);
    expect(taken).toBe(false);
    expect(ddbMock).toHaveReceivedNthCommandWith(PutCommand, 1, {
      TableName: tables.messages,
      Item: { conversationId: CONVERSATION, seq: 5, tombstone: true, sentAt: NOW.toISOString() },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
  });

  it('counts each tombstone it writes, and no slot that was taken', async () => {
    // Prepare: seq 5 is free, seq 6 was taken by its writer.
    givenStored([stored(6)]);
    const metrics = { record: vi.fn() };

    // Act
    await fillHole(ddb, tables, CONVERSATION, 5, NOW, metrics);
    await fillHole(ddb, tables, CONVERSATION, 6, NOW, metrics);

    // Assess
    expect(metrics.record).toHaveBeenCalledTimes(1);
    expect(metrics.record).toHaveBeenCalledWith('tombstonesFilled');
  });

  it('rethrows a failure other than a taken slot', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(new Error('throttled'));

    // Act
    const fill = fillHole(ddb, tables, CONVERSATION, 5, NOW, { record: vi.fn() });

    // Assess
    await expect(fill).rejects.toThrow('throttled');
  });
});
describe('putMembershipEntry', () => {
  it('stores the change at its seq, dated for readers, only where nothing is stored', async () => {
    // Prepare: seq 5 is free, seq 6 was filled by a reader.
    givenStored([tombstone(6)]);
    const change = {
      conversationId: CONVERSATION,
      kind: 'member_added' as const,
      userIds: ['carol'],
      by: 'bob',
    };
    const at = NOW.toISOString();

    // Act
    const stored5 = await putMembershipEntry(ddb, tables, { ...change, seq: 5, at });
    const stored6 = await putMembershipEntry(ddb, tables, { ...change, seq: 6, at });

    // Assess
    expect(stored5).toBe(true);
    expect(stored6).toBe(false);
    expect(ddbMock).toHaveReceivedNthCommandWith(PutCommand, 1, {
      TableName: tables.messages,
      Item: { ...change, seq: 5, at, sentAt: at },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
  });
});
describe('putMessage', () => {
  it('puts the message with its clientMessageId only where nothing is stored, and says whether it did', async () => {
    // Prepare
    const message = { conversationId: CONVERSATION, seq: 5, senderId: 'bob', body: 'hi', sentAt: OLD };
    ddbMock
      .on(PutCommand)
      .resolvesOnce({})
      .rejects(new ConditionalCheckFailedException({ message: 'taken', $metadata: {} }));

    // Act
    const stored = await putMessage(ddb, tables, message, 'c-5');
    const taken = await putMessage(ddb, tables, message, 'c-5');

    // Assess
    expect([stored, taken]).toEqual([true, false]);
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: { ...message, clientMessageId: 'c-5' },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
  });
});
describe('editBody and markDeleted', () => {
  const target = { conversationId: CONVERSATION, seq: 5, senderId: 'bob' };
  const signal = new AbortController().signal;

  it('edits with one conditional update that bumps the version and returns the item either way', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: { senderId: 'bob', body: 'new', version: 2 } });

    // Act
    const result = await editBody(ddb, tables, target, { body: 'new', editedAt: NOW.toISOString() }, signal);

    // Assess
    expect(result).toEqual({ updated: true, item: { senderId: 'bob', body: 'new', version: 2 } });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.messages,
      Key: { conversationId: CONVERSATION, seq: 5 },
      UpdateExpression: 'SET body = :body, editedAt = :at ADD version :one',
      ConditionExpression: 'senderId = :sender AND attribute_not_exists(deleted) AND body <> :body',
      ExpressionAttributeValues: { ':body': 'new', ':at': NOW.toISOString(), ':one': 1, ':sender': 'bob' },
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('deletes with one conditional update and returns the item as it was when refused', async () => {
    // Prepare: the message is someone else's.
    const old = { conversationId: CONVERSATION, seq: 5, senderId: 'carol', body: 'hers', sentAt: OLD };
    ddbMock
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'failed', $metadata: {}, Item: marshall(old) }),
      );

    // Act
    const result = await markDeleted(ddb, tables, target, NOW.toISOString(), signal);

    // Assess
    expect(result).toEqual({ updated: false, old });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: tables.messages,
      Key: { conversationId: CONVERSATION, seq: 5 },
      UpdateExpression:
        'SET deleted = :true, deletedAt = :at REMOVE body, editedAt, attachment ADD version :one',
      ConditionExpression: 'senderId = :sender AND attribute_not_exists(deleted)',
      ExpressionAttributeValues: { ':true': true, ':at': NOW.toISOString(), ':one': 1, ':sender': 'bob' },
      ReturnValues: 'ALL_OLD',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });
});
describe('readers count the holes they fill', () => {
  it('records tombstonesFilled once per hole filled by a backlog and by a history page', async () => {
    // Prepare: seqs 2 and 4 are holes of dead writers; 4's writer stored it after all, unseen by the read.
    givenStored([stored(1), stored(3), stored(5)], [4]);
    const metrics = { record: vi.fn() };

    // Act
    await messagesAfter(ddb, tables, CONVERSATION, 0, witness(5), metrics, 10);
    await messagesBefore(ddb, tables, CONVERSATION, undefined, witness(5), metrics, 10);

    // Assess: seq 2 once by the backlog (history then finds it filled), seq 4 never.
    expect(tombstonesWritten()).toEqual([2, 4, 4]);
    expect(metrics.record.mock.calls).toEqual([['tombstonesFilled']]);
  });
});
describe('getEntries', () => {
  it('reads the entries at several seqs in one batch and shows them as pages do', async () => {
    // Prepare
    const slots = [
      { conversationId: CONVERSATION, seq: 5 },
      { conversationId: 'conv-2', seq: 1 },
    ];
    ddbMock.on(BatchGetCommand).resolves({ Responses: { [tables.messages]: [stored(5), tombstone(1)] } });

    // Act
    const entries = await getEntries(ddb, tables, slots);

    // Assess
    expect(entries).toEqual([
      { conversationId: CONVERSATION, seq: 5, senderId: 'bob', body: 'message 5', sentAt: OLD },
      { conversationId: CONVERSATION, seq: 1, tombstone: true },
    ]);
    expect(ddbMock).toHaveReceivedCommandWith(BatchGetCommand, {
      RequestItems: { [tables.messages]: { Keys: slots } },
    });
  });
});
