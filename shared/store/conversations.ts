/** Membership checks shared by every route that touches a conversation. */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { NotAMemberError } from '../errors';
import { memberSk, type TableNames } from '../tables';

/**
 * Throws {@link NotAMemberError} unless `userId` is a member of `conversationId`. A strongly consistent
 * read, so a member added a moment ago is seen.
 */
export async function requireMember(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
  userId: string,
  signal?: AbortSignal,
): Promise<void> {
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.conversations,
      Key: { conversationId, sk: memberSk(userId) },
      ConsistentRead: true,
      ProjectionExpression: 'conversationId',
    }),
    { abortSignal: signal },
  );
  if (Item === undefined) throw new NotAMemberError(conversationId);
}
