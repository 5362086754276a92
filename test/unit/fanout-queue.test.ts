import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { deduplicationIdOf, enqueue } from '../../shared/store/fanout-queue';

const sqsMock = mockClient(SQSClient);
const QUEUE_URL = 'https://sqs.local/000000000000/fanout.fifo';
const message = {
  conversationId: 'c1',
  seq: 4,
  senderId: 'alice',
  body: 'hi 👋',
  sentAt: '2026-01-01T00:00:00.000Z',
};

beforeEach(() => {
  sqsMock.reset();
});

describe('the one enqueue of every stored entry', () => {
  it('keeps one dedup id per seq for messages and membership changes', () => {
    // Prepare
    const membership = {
      kind: 'membership' as const,
      conversationId: 'c1',
      seq: 5,
      event: 'member_added' as const,
      userIds: ['bob'],
      by: 'alice',
      at: '2026-01-01T00:00:00.000Z',
    };

    // Act / Assess
    expect(deduplicationIdOf(message)).toBe('c1:4');
    expect(deduplicationIdOf(membership)).toBe('c1:5');
  });

  it('gives each version of an edit or delete its own dedup id, so a later version gets through', () => {
    // Prepare
    const edit = {
      kind: 'edit' as const,
      conversationId: 'c1',
      seq: 4,
      body: 'b',
      editedAt: 'x',
      version: 2,
    };
    const remove = { kind: 'delete' as const, conversationId: 'c1', seq: 4, deletedAt: 'x', version: 3 };

    // Act / Assess
    expect(deduplicationIdOf(edit)).toBe('c1:4:v2');
    expect(deduplicationIdOf(remove)).toBe('c1:4:v3');
  });

  it('sends to the conversation group with an ASCII-only body that parses back to the entry', async () => {
    // Prepare
    sqsMock.on(SendMessageCommand).resolves({});

    // Act
    await enqueue(new SQSClient({}), QUEUE_URL, message);

    // Assess
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageGroupId: 'c1',
      MessageDeduplicationId: 'c1:4',
    });
    const body = String(sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody);
    expect(body).toMatch(/^[\x20-\x7e]*$/);
    expect(JSON.parse(body)).toEqual(message);
  });
});
