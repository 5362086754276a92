/** The messages store's backlog after a seq (subscribe): pages, and the holes of dead writers it fills. */
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { messagesAfter } from '../../shared/store/messages';
import {
  bulky,
  CONVERSATION,
  ddb,
  ddbMock,
  givenStored,
  NOW,
  OLD,
  range,
  replyBytes,
  seqs,
  stored,
  tables,
  tombstone,
  tombstonesWritten,
  useMessagesTableMock,
  witness,
  YOUNG,
} from './fakes/stored-messages';

useMessagesTableMock();

describe('messagesAfter', () => {
  it('queries seq > afterSeq consistently, one item more than the limit, and returns the messages ascending without extra attributes', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [stored(4), stored(5)] });

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, witness(5), { record: vi.fn() }, 10);

    // Assess
    expect(seqs(page)).toEqual([4, 5]);
    expect(page.messages[0]).not.toHaveProperty('clientMessageId');
    expect(page.hasMore).toBe(false);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.messages,
      KeyConditionExpression: 'conversationId = :c AND seq > :after',
      ExpressionAttributeValues: { ':c': CONVERSATION, ':after': 3 },
      ConsistentRead: true,
      Limit: 11,
    });
  });

  it('reports more only when more items than the limit came back', async () => {
    // Prepare
    givenStored(range(1, 3).map((seq) => stored(seq)));

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0, witness(3), { record: vi.fn() }, 2);

    // Assess
    expect(seqs(page)).toEqual([1, 2]);
    expect(page.hasMore).toBe(true);
  });

  it('says there is no more when the page is exactly full, although DynamoDB stopped at its Limit', async () => {
    // Prepare: messages 2 and 3 are all there is after seq 1.
    givenStored(range(1, 3).map((seq) => stored(seq)));

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 1, witness(3), { record: vi.fn() }, 2);

    // Assess
    expect(seqs(page)).toEqual([2, 3]);
    expect(page.hasMore).toBe(false);
  });

  it('trims a page that would exceed the reply quota and keeps the oldest messages in order', async () => {
    // Prepare: a complete page that is too large to send in one reply.
    ddbMock.on(QueryCommand).resolves({ Items: bulky(1, 10, 1) });

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0, witness(10), { record: vi.fn() });

    // Assess
    expect(page.hasMore).toBe(true);
    expect(page.messages.length).toBeGreaterThan(0);
    expect(page.messages.length).toBeLessThan(10);
    expect(seqs(page)).toEqual(range(1, page.messages.length));
    expect(replyBytes(page.messages)).toBeLessThanOrEqual(LIMITS.maxReplyBytes);
  });
});
describe('messagesAfter fills the holes of dead writers (G2)', () => {
  it('fills a hole whose next message was sent longer than the writer lease ago with a conditional tombstone, in seq order', async () => {
    // Prepare: seq 5 was reserved before message 6 was sent, more than a lease ago.
    givenStored([stored(4, YOUNG), stored(6, OLD)]);

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, witness(6), { record: vi.fn() }, 10);

    // Assess
    expect(page.messages).toEqual([
      expect.objectContaining({ seq: 4, body: 'message 4' }),
      tombstone(5),
      expect.objectContaining({ seq: 6, body: 'message 6' }),
    ]);
    expect(page.hasMore).toBe(false);
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: { conversationId: CONVERSATION, seq: 5, tombstone: true, sentAt: NOW.toISOString() },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
  });

  it.each([
    ['younger than the lease', YOUNG],
    ['exactly one lease old', new Date(NOW.getTime() - LIMITS.writerLeaseMs).toISOString()],
  ])('leaves out a hole whose next message is %s, and writes nothing', async (_case, sentAt) => {
    // Prepare: message 4 is old, but only the message above the hole tells when seq 5 was reserved.
    givenStored([stored(4, OLD), stored(6, sentAt)]);

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, witness(6), { record: vi.fn() }, 10);

    // Assess
    expect(seqs(page)).toEqual([4, 6]);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it('fills the holes above the newest message up to lastSeq when the last reservation is older than the lease', async () => {
    // Prepare
    givenStored([stored(4)]);

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, witness(6, OLD), { record: vi.fn() }, 10);

    // Assess
    expect(page.messages).toEqual([expect.objectContaining({ seq: 4 }), tombstone(5), tombstone(6)]);
    expect(page.hasMore).toBe(false);
    expect(tombstonesWritten().sort()).toEqual([5, 6]);
  });

  it.each([
    ['the last reservation is recent', YOUNG],
    ['no reservation time is known', undefined],
  ])('leaves out the holes above the newest message when %s', async (_case, lastReservedAt) => {
    // Prepare
    givenStored([stored(4)]);

    // Act
    const page = await messagesAfter(
      ddb,
      tables,
      CONVERSATION,
      3,
      witness(6, lastReservedAt),
      { record: vi.fn() },
      10,
    );

    // Assess
    expect(seqs(page)).toEqual([4]);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it('leaves out a hole that its writer stored just before the tombstone, and overwrites nothing', async () => {
    // Prepare: message 5 lands between the Query and the tombstone's Put.
    givenStored([stored(4), stored(6)], [5]);

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, witness(6), { record: vi.fn() }, 10);

    // Assess
    expect(seqs(page)).toEqual([4, 6]);
    expect(page.messages.some((entry) => 'tombstone' in entry)).toBe(false);
    expect(tombstonesWritten()).toEqual([5]);
  });

  it('fails the read when a tombstone cannot be written for another reason', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [stored(4), stored(6)] });
    ddbMock.on(PutCommand).rejects(new Error('throttled'));

    // Act
    const read = messagesAfter(ddb, tables, CONVERSATION, 3, witness(6), { record: vi.fn() }, 10);

    // Assess
    await expect(read).rejects.toThrow('throttled');
  });

  it('fills at most `limit` holes per read, the oldest first, and then says there is more', async () => {
    // Prepare: seqs 1 to 9 are all stale holes.
    givenStored([stored(10)]);

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0, witness(10), { record: vi.fn() }, 3);

    // Assess: the page stops at the last hole filled, so 4..9 are not skipped as if caught up.
    expect(tombstonesWritten().sort()).toEqual([1, 2, 3]);
    expect(page.messages).toEqual([tombstone(1), tombstone(2), tombstone(3)]);
    expect(page.hasMore).toBe(true);
  });

  it('treats a query cut short by DynamoDB (LastEvaluatedKey) as more, not as holes', async () => {
    // Prepare: the 1 MB cap stopped the read after seq 2 although lastSeq is 9.
    ddbMock.on(QueryCommand).resolves({
      Items: [stored(1), stored(2)],
      LastEvaluatedKey: { conversationId: CONVERSATION, seq: 2 },
    });

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0, witness(9, OLD), { record: vi.fn() }, 5);

    // Assess
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
    expect(page.messages.map((entry) => entry.seq)).toEqual([1, 2]);
    expect(page.hasMore).toBe(true);
  });

  it('looks for holes only up to the last message of a page that has more after it', async () => {
    // Prepare: 2 and 4 are holes, and so is everything from 6 to lastSeq 20.
    givenStored([stored(1), stored(3), stored(5)]);

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0, witness(20, OLD), { record: vi.fn() }, 2);

    // Assess
    expect(page.messages).toEqual([
      expect.objectContaining({ seq: 1 }),
      tombstone(2),
      expect.objectContaining({ seq: 3 }),
    ]);
    expect(page.hasMore).toBe(true);
    expect(tombstonesWritten()).toEqual([2]);
  });
});
