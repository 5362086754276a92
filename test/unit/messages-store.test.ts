import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { LIMITS } from '../../shared/limits';
import {
  editBody,
  fillHole,
  getEntries,
  getMessage,
  type HoleWitness,
  markDeleted,
  messagePutItem,
  messagesAfter,
  messagesBefore,
  putMembershipEntry,
} from '../../shared/store/messages';
import { fakeMessagesTable } from './fakes/messages-table';

const tables = { messages: 'messages-t' };
const CONVERSATION = 'conv-1';
const NOW = new Date('2030-01-02T03:04:05.000Z');
/** Just past the writer lease: a seq reserved before this cannot still be written. */
const OLD = new Date(NOW.getTime() - LIMITS.writerLeaseMs - 1).toISOString();
/** Well inside the writer lease: the writer of a seq reserved before this may still store it. */
const YOUNG = new Date(NOW.getTime() - 1_000).toISOString();

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

/** A stored item as DynamoDB returns it, with attributes the protocol does not expose. */
const stored = (seq: number, sentAt = OLD, body = `message ${seq}`) => ({
  conversationId: CONVERSATION,
  seq,
  senderId: 'bob',
  body,
  sentAt,
  clientMessageId: `c-${seq}`,
});

const tombstone = (seq: number) => ({ conversationId: CONVERSATION, seq, tombstone: true });

/** What readers pass: the time and the counter (lastSeq, lastReservedAt) as META holds it. */
const witness = (lastSeq: number, lastReservedAt?: string): HoleWitness => ({
  now: NOW,
  lastSeq,
  ...(lastReservedAt === undefined ? {} : { lastReservedAt }),
});

const seqs = (page: { messages: { seq: number }[] }): number[] => page.messages.map((m) => m.seq);

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Items whose JSON together is well over the reply quota: ~16 KB each. */
const bulky = (from: number, to: number, step: number) => {
  const items = [];
  for (let seq = from; step > 0 ? seq <= to : seq >= to; seq += step) {
    items.push(stored(seq, OLD, 'x'.repeat(LIMITS.maxBodyBytes)));
  }
  return items;
};

const replyBytes = (messages: unknown[]): number => Buffer.byteLength(JSON.stringify(messages), 'utf8');

/** The seqs of the tombstones written, in call order. */
const tombstonesWritten = (): number[] =>
  ddbMock.commandCalls(PutCommand).map((call) => Number(call.args[0].input.Item?.seq));

/** The messages table holding `items`; see fakeMessagesTable. */
function givenStored(items: Record<string, unknown>[], storedUnseen: number[] = []): void {
  fakeMessagesTable(ddbMock, CONVERSATION, items, storedUnseen);
}

beforeEach(() => {
  ddbMock.reset();
});

describe('messagesAfter', () => {
  it('queries seq > afterSeq consistently, one item more than the limit, and returns the messages ascending without extra attributes', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [stored(4), stored(5)] });

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, witness(5), 10);

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
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0, witness(3), 2);

    // Assess
    expect(seqs(page)).toEqual([1, 2]);
    expect(page.hasMore).toBe(true);
  });

  it('says there is no more when the page is exactly full, although DynamoDB stopped at its Limit', async () => {
    // Prepare: messages 2 and 3 are all there is after seq 1.
    givenStored(range(1, 3).map((seq) => stored(seq)));

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 1, witness(3), 2);

    // Assess
    expect(seqs(page)).toEqual([2, 3]);
    expect(page.hasMore).toBe(false);
  });

  it('trims a page that would exceed the reply quota and keeps the oldest messages in order', async () => {
    // Prepare: a complete page that is too large to send in one reply.
    ddbMock.on(QueryCommand).resolves({ Items: bulky(1, 10, 1) });

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0, witness(10));

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
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, witness(6), 10);

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
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, witness(6), 10);

    // Assess
    expect(seqs(page)).toEqual([4, 6]);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it('fills the holes above the newest message up to lastSeq when the last reservation is older than the lease', async () => {
    // Prepare
    givenStored([stored(4)]);

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, witness(6, OLD), 10);

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
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, witness(6, lastReservedAt), 10);

    // Assess
    expect(seqs(page)).toEqual([4]);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it('leaves out a hole that its writer stored just before the tombstone, and overwrites nothing', async () => {
    // Prepare: message 5 lands between the Query and the tombstone's Put.
    givenStored([stored(4), stored(6)], [5]);

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, witness(6), 10);

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
    const read = messagesAfter(ddb, tables, CONVERSATION, 3, witness(6), 10);

    // Assess
    await expect(read).rejects.toThrow('throttled');
  });

  it('fills at most `limit` holes per read, the oldest first, and then says there is more', async () => {
    // Prepare: seqs 1 to 9 are all stale holes.
    givenStored([stored(10)]);

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0, witness(10), 3);

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
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0, witness(9, OLD), 5);

    // Assess
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
    expect(page.messages.map((entry) => entry.seq)).toEqual([1, 2]);
    expect(page.hasMore).toBe(true);
  });

  it('looks for holes only up to the last message of a page that has more after it', async () => {
    // Prepare: 2 and 4 are holes, and so is everything from 6 to lastSeq 20.
    givenStored([stored(1), stored(3), stored(5)]);

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0, witness(20, OLD), 2);

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

describe('messagesBefore', () => {
  it('fills the newest seq, where a client repairs a gap, when nothing is stored at beforeSeq', async () => {
    // Prepare: seq 4 was reserved long ago and never stored; the client asks for what lies below 5.
    givenStored([stored(1), stored(2), stored(3)]);

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 5, witness(4, OLD), 10);

    // Assess
    expect(page.messages.map((entry) => entry.seq)).toEqual([1, 2, 3, 4]);
    expect(page.messages.at(-1)).toEqual({ conversationId: CONVERSATION, seq: 4, tombstone: true });
    expect(page.hasMore).toBe(false);
  });

  it('queries seq <= beforeSeq backwards, two items more than the limit, and returns the page ascending without the message at beforeSeq', async () => {
    // Prepare
    givenStored(range(1, 12).map((seq) => stored(seq)));

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 10, witness(12), 3);

    // Assess
    expect(seqs(page)).toEqual([7, 8, 9]);
    expect(page.messages[0]).not.toHaveProperty('clientMessageId');
    expect(page.hasMore).toBe(true);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.messages,
      KeyConditionExpression: 'conversationId = :c AND seq <= :before',
      ExpressionAttributeValues: { ':c': CONVERSATION, ':before': 10 },
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: 5,
    });
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it('reads the newest messages when no beforeSeq is given and reports more when more than the limit came back', async () => {
    // Prepare
    givenStored(range(1, 20).map((seq) => stored(seq)));

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, undefined, witness(20), 2);

    // Assess
    expect(seqs(page)).toEqual([19, 20]);
    expect(page.hasMore).toBe(true);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      KeyConditionExpression: 'conversationId = :c',
      ExpressionAttributeValues: { ':c': CONVERSATION },
      Limit: 4,
    });
  });

  it.each([
    ['the message at beforeSeq came back too', [stored(3), stored(4)]],
    ['nothing is stored at beforeSeq', []],
  ])('says there is no more when the page holds exactly the oldest messages and %s', async (_case, above) => {
    // Prepare: messages 1 and 2 are all there is before seq 3.
    givenStored([stored(1), stored(2), ...above]);

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 3, witness(4), 2);

    // Assess
    expect(seqs(page)).toEqual([1, 2]);
    expect(page.hasMore).toBe(false);
  });

  it('reports more when limit + 1 older messages came back and nothing is stored at beforeSeq', async () => {
    // Prepare
    givenStored(range(1, 10).map((seq) => stored(seq)));

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 11, witness(12), 3);

    // Assess
    expect(seqs(page)).toEqual([8, 9, 10]);
    expect(page.hasMore).toBe(true);
  });

  it('trims an oversized page to the newest messages, still ascending', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: bulky(10, 1, -1) });

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 11, witness(10));

    // Assess
    const kept = page.messages.length;
    expect(page.hasMore).toBe(true);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(10);
    expect(seqs(page)).toEqual(range(11 - kept, 10));
    expect(replyBytes(page.messages)).toBeLessThanOrEqual(LIMITS.maxReplyBytes);
  });
});

describe('messagesBefore fills the holes of dead writers (G2)', () => {
  it('fills a hole just below beforeSeq with the message at beforeSeq as its witness, and leaves that message out', async () => {
    // Prepare: seq 8 is a hole; message 9, sent after seq 8 was reserved, is old.
    givenStored([...range(1, 7).map((seq) => stored(seq, YOUNG)), stored(9, OLD)]);

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 9, witness(12), 5);

    // Assess
    expect(page.messages).toEqual([
      ...range(3, 7).map((seq) => expect.objectContaining({ seq, body: `message ${seq}` })),
      tombstone(8),
    ]);
    expect(page.hasMore).toBe(true);
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: tables.messages,
      Item: { conversationId: CONVERSATION, seq: 8, tombstone: true, sentAt: NOW.toISOString() },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
  });

  it('leaves out a hole just below beforeSeq while the message at beforeSeq is younger than the lease', async () => {
    // Prepare
    givenStored([...range(1, 7).map((seq) => stored(seq, OLD)), stored(9, YOUNG)]);

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 9, witness(12), 5);

    // Assess
    expect(seqs(page)).toEqual([3, 4, 5, 6, 7]);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it('fills the holes below the oldest message down to seq 1 when there is no more history', async () => {
    // Prepare: seqs 1 and 2 were never stored; message 3 is old.
    givenStored([stored(3), stored(4)]);

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 5, witness(4), 10);

    // Assess
    expect(page.messages).toEqual([
      tombstone(1),
      tombstone(2),
      expect.objectContaining({ seq: 3 }),
      expect.objectContaining({ seq: 4 }),
    ]);
    expect(page.hasMore).toBe(false);
  });

  it('does not look for holes below the oldest message of a page that has more before it', async () => {
    // Prepare: seq 2 is a hole below the page 3..4.
    givenStored([stored(1), stored(3), stored(4)]);

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 5, witness(4), 2);

    // Assess
    expect(seqs(page)).toEqual([3, 4]);
    expect(page.hasMore).toBe(true);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it.each([
    ['older than the lease', OLD, [1, 2, 3, 4, 5], [4, 5]],
    ['recent', YOUNG, [1, 2, 3], []],
  ])(
    'fills the holes above the newest message up to lastSeq only when the last reservation is %s, without beforeSeq',
    async (_case, lastReservedAt, expected, filled) => {
      // Prepare
      givenStored(range(1, 3).map((seq) => stored(seq)));

      // Act
      const page = await messagesBefore(ddb, tables, CONVERSATION, undefined, witness(5, lastReservedAt), 10);

      // Assess
      expect(seqs(page)).toEqual(expected);
      expect(tombstonesWritten().sort()).toEqual(filled);
    },
  );

  it("never fills a seq above the counter's lastSeq", async () => {
    // Prepare: an old message at beforeSeq 6 would witness 4 and 5, but the counter stops at 3.
    givenStored([stored(1), stored(2), stored(3), stored(6)]);

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 6, witness(3, OLD), 10);

    // Assess
    expect(seqs(page)).toEqual([1, 2, 3]);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it('fills at most `limit` holes per read, the newest first, and then says there is more', async () => {
    // Prepare: seqs 1 to 9 are all stale holes.
    givenStored([stored(10)]);

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, undefined, witness(10), 3);

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 3);
    expect(page.messages.map((entry) => entry.seq)).toEqual([7, 8, 9, 10]);
    expect(page.messages.filter((entry) => 'tombstone' in entry)).toHaveLength(3);
    expect(page.hasMore).toBe(true);
  });
});

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
    const filled = await fillHole(ddb, tables, CONVERSATION, 5, NOW);
    const taken = await fillHole(ddb, tables, CONVERSATION, 6, NOW);

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
    const fill = fillHole(ddb, tables, CONVERSATION, 5, NOW);

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

describe('messagePutItem', () => {
  it('puts the message with its clientMessageId only where nothing is stored', () => {
    // Prepare
    const message = { conversationId: CONVERSATION, seq: 5, senderId: 'bob', body: 'hi', sentAt: OLD };

    // Act
    const item = messagePutItem(tables, message, 'c-5');

    // Assess
    expect(item).toEqual({
      Put: {
        TableName: tables.messages,
        Item: { ...message, clientMessageId: 'c-5' },
        ConditionExpression: 'attribute_not_exists(conversationId)',
      },
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
      ReturnValues: 'ALL_NEW',
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
    await messagesAfter(ddb, tables, CONVERSATION, 0, witness(5), 10, metrics);
    await messagesBefore(ddb, tables, CONVERSATION, undefined, witness(5), 10, metrics);

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
