/** The messages store's pages before a seq (history): pages, and the holes of dead writers it fills. */
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { messagesBefore } from '../../shared/store/messages';
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

describe('messagesBefore', () => {
  it('fills the newest seq, where a client repairs a gap, when nothing is stored at beforeSeq', async () => {
    // Prepare: seq 4 was reserved long ago and never stored; the client asks for what lies below 5.
    givenStored([stored(1), stored(2), stored(3)]);

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 5, witness(4, OLD), { record: vi.fn() }, 10);

    // Assess
    expect(page.messages.map((entry) => entry.seq)).toEqual([1, 2, 3, 4]);
    expect(page.messages.at(-1)).toEqual({ conversationId: CONVERSATION, seq: 4, tombstone: true });
    expect(page.hasMore).toBe(false);
  });

  it('queries seq <= beforeSeq backwards, two items more than the limit, and returns the page ascending without the message at beforeSeq', async () => {
    // Prepare
    givenStored(range(1, 12).map((seq) => stored(seq)));

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 10, witness(12), { record: vi.fn() }, 3);

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
    const page = await messagesBefore(
      ddb,
      tables,
      CONVERSATION,
      undefined,
      witness(20),
      { record: vi.fn() },
      2,
    );

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
    const page = await messagesBefore(ddb, tables, CONVERSATION, 3, witness(4), { record: vi.fn() }, 2);

    // Assess
    expect(seqs(page)).toEqual([1, 2]);
    expect(page.hasMore).toBe(false);
  });

  it('reports more when limit + 1 older messages came back and nothing is stored at beforeSeq', async () => {
    // Prepare
    givenStored(range(1, 10).map((seq) => stored(seq)));

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 11, witness(12), { record: vi.fn() }, 3);

    // Assess
    expect(seqs(page)).toEqual([8, 9, 10]);
    expect(page.hasMore).toBe(true);
  });

  it('trims an oversized page to the newest messages, still ascending', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: bulky(10, 1, -1) });

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 11, witness(10), { record: vi.fn() });

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
    const page = await messagesBefore(ddb, tables, CONVERSATION, 9, witness(12), { record: vi.fn() }, 5);

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
    const page = await messagesBefore(ddb, tables, CONVERSATION, 9, witness(12), { record: vi.fn() }, 5);

    // Assess
    expect(seqs(page)).toEqual([3, 4, 5, 6, 7]);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it('fills the holes below the oldest message down to seq 1 when there is no more history', async () => {
    // Prepare: seqs 1 and 2 were never stored; message 3 is old.
    givenStored([stored(3), stored(4)]);

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 5, witness(4), { record: vi.fn() }, 10);

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
    const page = await messagesBefore(ddb, tables, CONVERSATION, 5, witness(4), { record: vi.fn() }, 2);

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
      const page = await messagesBefore(
        ddb,
        tables,
        CONVERSATION,
        undefined,
        witness(5, lastReservedAt),
        { record: vi.fn() },
        10,
      );

      // Assess
      expect(seqs(page)).toEqual(expected);
      expect(tombstonesWritten().sort()).toEqual(filled);
    },
  );

  it("never fills a seq above the counter's lastSeq", async () => {
    // Prepare: an old message at beforeSeq 6 would witness 4 and 5, but the counter stops at 3.
    givenStored([stored(1), stored(2), stored(3), stored(6)]);

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 6, witness(3, OLD), { record: vi.fn() }, 10);

    // Assess
    expect(seqs(page)).toEqual([1, 2, 3]);
    expect(ddbMock).not.toHaveReceivedCommand(PutCommand);
  });

  it('fills at most `limit` holes per read, the newest first, and then says there is more', async () => {
    // Prepare: seqs 1 to 9 are all stale holes.
    givenStored([stored(10)]);

    // Act
    const page = await messagesBefore(
      ddb,
      tables,
      CONVERSATION,
      undefined,
      witness(10),
      { record: vi.fn() },
      3,
    );

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 3);
    expect(page.messages.map((entry) => entry.seq)).toEqual([7, 8, 9, 10]);
    expect(page.messages.filter((entry) => 'tombstone' in entry)).toHaveLength(3);
    expect(page.hasMore).toBe(true);
  });
});
