import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { getMessage, messagesAfter, messagesBefore } from '../../shared/store/messages';

const tables = { messages: 'messages-t' };
const CONVERSATION = 'conv-1';

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

/** A stored item as DynamoDB returns it, with attributes the protocol does not expose. */
const stored = (seq: number, body = `message ${seq}`) => ({
  conversationId: CONVERSATION,
  seq,
  senderId: 'bob',
  body,
  sentAt: '2030-01-02T03:04:05.000Z',
  clientMessageId: `c-${seq}`,
});

const seqs = (page: { messages: { seq: number }[] }): number[] => page.messages.map((m) => m.seq);

/** Items whose JSON together is well over the reply quota: ~16 KB each. */
const bulky = (from: number, to: number, step: number) => {
  const items = [];
  for (let seq = from; step > 0 ? seq <= to : seq >= to; seq += step) {
    items.push(stored(seq, 'x'.repeat(LIMITS.maxBodyBytes)));
  }
  return items;
};

const replyBytes = (messages: unknown[]): number => Buffer.byteLength(JSON.stringify(messages), 'utf8');

beforeEach(() => {
  ddbMock.reset();
});

describe('messagesAfter', () => {
  it('queries seq > afterSeq consistently and returns the messages ascending without extra attributes', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [stored(4), stored(5)] });

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 3, 10);

    // Assess
    expect(seqs(page)).toEqual([4, 5]);
    expect(page.messages[0]).not.toHaveProperty('clientMessageId');
    expect(page.hasMore).toBe(false);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.messages,
      KeyConditionExpression: 'conversationId = :c AND seq > :after',
      ExpressionAttributeValues: { ':c': CONVERSATION, ':after': 3 },
      ConsistentRead: true,
      Limit: 10,
    });
  });

  it('reports more messages when DynamoDB returns a LastEvaluatedKey', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({
      Items: [stored(1), stored(2)],
      LastEvaluatedKey: { conversationId: CONVERSATION, seq: 2 },
    });

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0, 2);

    // Assess
    expect(page.hasMore).toBe(true);
    expect(seqs(page)).toEqual([1, 2]);
  });

  it('trims a page that would exceed the reply quota and keeps the oldest messages in order', async () => {
    // Prepare: a complete page (no LastEvaluatedKey) that is too large to send in one reply.
    ddbMock.on(QueryCommand).resolves({ Items: bulky(1, 10, 1) });

    // Act
    const page = await messagesAfter(ddb, tables, CONVERSATION, 0);

    // Assess
    expect(page.hasMore).toBe(true);
    expect(page.messages.length).toBeGreaterThan(0);
    expect(page.messages.length).toBeLessThan(10);
    expect(seqs(page)).toEqual(Array.from({ length: page.messages.length }, (_, i) => i + 1));
    expect(replyBytes(page.messages)).toBeLessThanOrEqual(LIMITS.maxReplyBytes);
  });
});

describe('messagesBefore', () => {
  it('reads backwards from beforeSeq and returns the page ascending', async () => {
    // Prepare: a backwards Query yields newest first.
    ddbMock.on(QueryCommand).resolves({ Items: [stored(9), stored(8), stored(7)] });

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 10, 3);

    // Assess
    expect(seqs(page)).toEqual([7, 8, 9]);
    expect(page.hasMore).toBe(false);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      KeyConditionExpression: 'conversationId = :c AND seq < :before',
      ExpressionAttributeValues: { ':c': CONVERSATION, ':before': 10 },
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: 3,
    });
  });

  it('reads the newest messages when no beforeSeq is given and reports more from LastEvaluatedKey', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({
      Items: [stored(20), stored(19)],
      LastEvaluatedKey: { conversationId: CONVERSATION, seq: 19 },
    });

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, undefined, 2);

    // Assess
    expect(seqs(page)).toEqual([19, 20]);
    expect(page.hasMore).toBe(true);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      KeyConditionExpression: 'conversationId = :c',
      ExpressionAttributeValues: { ':c': CONVERSATION },
    });
  });

  it('trims an oversized page to the newest messages, still ascending', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: bulky(10, 1, -1) });

    // Act
    const page = await messagesBefore(ddb, tables, CONVERSATION, 11);

    // Assess
    const kept = page.messages.length;
    expect(page.hasMore).toBe(true);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(10);
    expect(seqs(page)).toEqual(Array.from({ length: kept }, (_, i) => 11 - kept + i));
    expect(replyBytes(page.messages)).toBeLessThanOrEqual(LIMITS.maxReplyBytes);
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
});
