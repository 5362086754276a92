/** Reading stored messages: one by seq (a retried send), the backlog after a seq (subscribe) and pages before a seq (history). */
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LIMITS } from '../limits';
import { type ChatMessage, chatMessageSchema } from '../protocol';
import type { TableNames } from '../tables';

export interface MessagePage {
  /** Always in ascending seq order. */
  messages: ChatMessage[];
  /** True when more messages exist beyond this page in the direction read. */
  hasMore: boolean;
}

const toMessage = (item: Record<string, unknown>): ChatMessage =>
  chatMessageSchema.parse({
    conversationId: item.conversationId,
    seq: item.seq,
    senderId: item.senderId,
    body: item.body,
    sentAt: item.sentAt,
  });

/** One stored message, strongly consistent; undefined when there is none with that seq. */
export async function getMessage(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'messages'>,
  conversationId: string,
  seq: number,
): Promise<ChatMessage | undefined> {
  const { Item } = await ddb.send(
    new GetCommand({ TableName: tables.messages, Key: { conversationId, seq }, ConsistentRead: true }),
  );
  return Item === undefined ? undefined : toMessage(Item);
}

/** Trims a page so that its JSON stays under the reply quota, keeping the first ones in read order. */
function fitReply(messages: ChatMessage[]): { kept: ChatMessage[]; trimmed: boolean } {
  let bytes = 0;
  const kept: ChatMessage[] = [];
  for (const message of messages) {
    bytes += Buffer.byteLength(JSON.stringify(message), 'utf8') + 1;
    if (bytes > LIMITS.maxReplyBytes && kept.length > 0) return { kept, trimmed: true };
    kept.push(message);
  }
  return { kept, trimmed: false };
}

/** Messages with seq > afterSeq, ascending, one page. Strongly consistent so a just-acked message is seen. */
export async function messagesAfter(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'messages'>,
  conversationId: string,
  afterSeq: number,
  limit: number = LIMITS.defaultPageSize,
): Promise<MessagePage> {
  const { Items = [], LastEvaluatedKey } = await ddb.send(
    new QueryCommand({
      TableName: tables.messages,
      KeyConditionExpression: 'conversationId = :c AND seq > :after',
      ExpressionAttributeValues: { ':c': conversationId, ':after': afterSeq },
      ConsistentRead: true,
      Limit: limit,
    }),
  );
  const { kept, trimmed } = fitReply(Items.map(toMessage));
  return { messages: kept, hasMore: trimmed || LastEvaluatedKey !== undefined };
}

/** The newest messages with seq < beforeSeq (or the newest of all), returned in ascending order. */
export async function messagesBefore(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'messages'>,
  conversationId: string,
  beforeSeq: number | undefined,
  limit: number = LIMITS.defaultPageSize,
): Promise<MessagePage> {
  const { Items = [], LastEvaluatedKey } = await ddb.send(
    new QueryCommand({
      TableName: tables.messages,
      KeyConditionExpression:
        beforeSeq === undefined ? 'conversationId = :c' : 'conversationId = :c AND seq < :before',
      ExpressionAttributeValues:
        beforeSeq === undefined ? { ':c': conversationId } : { ':c': conversationId, ':before': beforeSeq },
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: limit,
    }),
  );
  const { kept, trimmed } = fitReply(Items.map(toMessage));
  return { messages: kept.reverse(), hasMore: trimmed || LastEvaluatedKey !== undefined };
}
