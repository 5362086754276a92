/** Shared steps of the end-to-end tests: users, conversations, retrying sends like the client SDK. */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { LocalRuntime } from '../../local/runtime';
import { ChatClient, type Frame } from './chat-client';

export async function connectAs(runtime: LocalRuntime, userId: string): Promise<ChatClient> {
  return ChatClient.connect(await runtime.connectUrl(userId));
}

/** Connects and also returns the API Gateway connection id, which the protocol never tells a client. */
export async function connectWithId(
  runtime: LocalRuntime,
  userId: string,
): Promise<{ client: ChatClient; connectionId: string }> {
  const before = new Set(runtime.api.connectionIds());
  const client = await connectAs(runtime, userId);
  const connectionId = runtime.api.connectionIds().find((id) => !before.has(id));
  if (connectionId === undefined) throw new Error(`No new connection id for ${userId}`);
  return { client, connectionId };
}

export async function createConversation(client: ChatClient, members: string[]): Promise<string> {
  const reply = await client.request({ action: 'createConversation', members });
  if (reply.type !== 'ack') throw new Error(`createConversation failed: ${JSON.stringify(reply)}`);
  return String((reply.conversation as Frame).conversationId);
}

/**
 * Lets anyone add each of `userIds` to groups: each connects and sends `setWhoCanAdd` as a user would.
 * For tests and benchmarks among strangers whose subject is not consent: by default
 * (LIMITS.defaultWhoCanAdd) a group from someone a user shares no group with reaches them as an invitation.
 */
export async function letAnyoneAdd(runtime: LocalRuntime, userIds: string[]): Promise<void> {
  await Promise.all(
    userIds.map(async (userId) => {
      const client = await connectAs(runtime, userId);
      try {
        const reply = await client.request({ action: 'setWhoCanAdd', whoCanAdd: 'anyone' });
        if (reply.type !== 'ack')
          throw new Error(`setWhoCanAdd failed for ${userId}: ${JSON.stringify(reply)}`);
      } finally {
        await client.close();
      }
    }),
  );
}

/**
 * Sends like the client SDK: a retryable error is resent with the same clientMessageId, after its
 * `retryAfterMs` when it names one (a `rate_limited` send succeeds only after the bucket refilled).
 */
export async function sendMessage(
  client: ChatClient,
  conversationId: string,
  clientMessageId: string,
  body: string,
  extra: Record<string, unknown> = {},
): Promise<Frame> {
  for (let attempt = 1; ; attempt++) {
    const reply = await client.request({ action: 'send', conversationId, clientMessageId, body, ...extra });
    if (reply.type === 'ack' || reply.retryable !== true || attempt >= 10) return reply;
    if (typeof reply.retryAfterMs === 'number') await sleep(reply.retryAfterMs);
  }
}

/** Whether the connections table holds an item for this connection id. */
export async function connectionStored(runtime: LocalRuntime, connectionId: string): Promise<boolean> {
  const { Item } = await runtime.clients.dynamodb.send(
    new GetItemCommand({
      TableName: runtime.tables.connections,
      Key: { connectionId: { S: connectionId } },
      ConsistentRead: true,
    }),
  );
  return Item !== undefined;
}

/** Counts the items of a table (a Scan is fine in a test, never in the product). */
export async function countItems(runtime: LocalRuntime, tableName: string): Promise<number> {
  const ddb = runtime.clients.dynamodb;
  let count = 0;
  let startKey: Record<string, never> | undefined;
  do {
    const page = await ddb.send(
      new ScanCommand({ TableName: tableName, Select: 'COUNT', ExclusiveStartKey: startKey }),
    );
    count += page.Count ?? 0;
    startKey = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (startKey !== undefined);
  return count;
}
