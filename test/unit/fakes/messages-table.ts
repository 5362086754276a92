/** A messages table for handler tests: answers Query and conditional Put the way DynamoDB does. */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  PutCommand,
  type PutCommandInput,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { AwsClientStub } from 'aws-sdk-client-mock';

/**
 * Makes `ddbMock` answer like a messages table holding `items` of one conversation: Queries on
 * `seq > :after`, `seq < :before`, `seq <= :before` or the whole conversation, in key order (reversed
 * when ScanIndexForward is false), at most `Limit` items, with a LastEvaluatedKey whenever it stopped at
 * `Limit`, even if nothing lies beyond, as DynamoDB does. A conditional Put (a tombstone) fails where
 * something is stored; `storedUnseen` are seqs a writer stores just after the Query ran: the Query misses
 * them, a Put finds them taken.
 */
export function fakeMessagesTable(
  ddbMock: AwsClientStub<DynamoDBDocumentClient>,
  conversationId: string,
  items: Record<string, unknown>[],
  storedUnseen: number[] = [],
): void {
  const table = new Map(items.map((item) => [Number(item.seq), item]));
  ddbMock.on(QueryCommand).callsFake(async (input: QueryCommandInput) => {
    const values = input.ExpressionAttributeValues ?? {};
    const after = values[':after'] as number | undefined;
    const before = values[':before'] as number | undefined;
    const beforeInclusive = (input.KeyConditionExpression ?? '').includes('seq <= :before');
    const matching = [...table.keys()]
      .sort((a, b) => a - b)
      .filter(
        (seq) =>
          (after === undefined || seq > after) &&
          (before === undefined || (beforeInclusive ? seq <= before : seq < before)),
      );
    const ordered = input.ScanIndexForward === false ? matching.reverse() : matching;
    const limit = input.Limit ?? ordered.length;
    const Items = ordered.slice(0, limit).map((seq) => table.get(seq) as Record<string, unknown>);
    const last = Items.at(-1);
    return Items.length === limit && last !== undefined
      ? { Items, LastEvaluatedKey: { conversationId, seq: last.seq } }
      : { Items };
  });
  ddbMock.on(PutCommand).callsFake(async (input: PutCommandInput) => {
    const seq = Number(input.Item?.seq);
    if (table.has(seq) || storedUnseen.includes(seq)) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
    table.set(seq, input.Item ?? {});
    return {};
  });
}
