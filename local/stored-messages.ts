/**
 * Every item the messages table holds for a conversation, read straight from the runtime's DynamoDB Local:
 * for tools that audit what was stored (the chaos run's invariants, the burst benchmark's seq count), never
 * for the handlers, which read through shared/store/messages.
 */
import { type AttributeValue, QueryCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { LocalRuntime } from './runtime';

/** The items of `conversationId` in seq order, unmarshalled, through a strongly consistent Query. */
export async function storedMessageItems(
  runtime: Pick<LocalRuntime, 'clients' | 'tables'>,
  conversationId: string,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await runtime.clients.dynamodb.send(
      new QueryCommand({
        TableName: runtime.tables.messages,
        KeyConditionExpression: 'conversationId = :c',
        ExpressionAttributeValues: { ':c': { S: conversationId } },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const raw of page.Items ?? []) items.push(unmarshall(raw));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return items;
}
