/**
 * The messages store under unit test: a mocked document client, the items a messages table holds, and
 * the witness readers pass. A test file calls {@link useMessagesTableMock} once.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach } from 'vitest';
import { LIMITS } from '../../../shared/limits';
import type { HoleWitness } from '../../../shared/store/messages';
import { fakeMessagesTable } from './messages-table';

export const tables = { messages: 'messages-t' };
export const CONVERSATION = 'conv-1';
export const NOW = new Date('2030-01-02T03:04:05.000Z');
/** Just past the writer lease: a seq reserved before this cannot still be written. */
export const OLD = new Date(NOW.getTime() - LIMITS.writerLeaseMs - 1).toISOString();
/** Well inside the writer lease: the writer of a seq reserved before this may still store it. */
export const YOUNG = new Date(NOW.getTime() - 1_000).toISOString();

export const ddbMock = mockClient(DynamoDBDocumentClient);
export const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

/** A stored item as DynamoDB returns it, with attributes the protocol does not expose. */
export const stored = (seq: number, sentAt = OLD, body = `message ${seq}`) => ({
  conversationId: CONVERSATION,
  seq,
  senderId: 'bob',
  body,
  sentAt,
  clientMessageId: `c-${seq}`,
});

export const tombstone = (seq: number) => ({ conversationId: CONVERSATION, seq, tombstone: true });

/** What readers pass: the time and the counter (lastSeq, lastReservedAt) as META holds it. */
export const witness = (lastSeq: number, lastReservedAt?: string): HoleWitness => ({
  now: NOW,
  lastSeq,
  ...(lastReservedAt === undefined ? {} : { lastReservedAt }),
});

export const seqs = (page: { messages: { seq: number }[] }): number[] => page.messages.map((m) => m.seq);

export const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Items whose JSON together is well over the reply quota: ~16 KB each. */
export const bulky = (from: number, to: number, step: number) => {
  const items = [];
  for (let seq = from; step > 0 ? seq <= to : seq >= to; seq += step) {
    items.push(stored(seq, OLD, 'x'.repeat(LIMITS.maxBodyBytes)));
  }
  return items;
};

export const replyBytes = (messages: unknown[]): number =>
  Buffer.byteLength(JSON.stringify(messages), 'utf8');

/** The seqs of the tombstones written, in call order. */
export const tombstonesWritten = (): number[] =>
  ddbMock.commandCalls(PutCommand).map((call) => Number(call.args[0].input.Item?.seq));

/** The messages table holding `items`; see fakeMessagesTable. */
export function givenStored(items: Record<string, unknown>[], storedUnseen: number[] = []): void {
  fakeMessagesTable(ddbMock, CONVERSATION, items, storedUnseen);
}

/** Resets the mocked client before each test. */
export function useMessagesTableMock(): void {
  beforeEach(() => {
    ddbMock.reset();
  });
}
