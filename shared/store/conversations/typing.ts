/** The typing throttle: `typingAt` (ms since the epoch) on the typist's `MEMBER#` item. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NotAMemberError } from '../../errors';
import { LIMITS } from '../../limits';
import { memberSk, type TableNames } from '../../tables';
import { updateIf } from '../conditions';

/**
 * Sets `typingAt` to `now` on the member item of `userId`, only if that item exists and `typingAt` is
 * older than LIMITS.typingThrottleMs: one conditional UpdateItem is both the membership check and the
 * throttle.
 * @returns false when the member typed less than LIMITS.typingThrottleMs ago (nothing is written).
 * @throws NotAMemberError when `userId` is not a member (nothing is written).
 */
export async function takeTypingSlot(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
  userId: string,
  now: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const outcome = await updateIf(
    ddb,
    {
      TableName: tables.conversations,
      Key: { conversationId, sk: memberSk(userId) },
      UpdateExpression: 'SET typingAt = :now',
      ConditionExpression:
        'attribute_exists(conversationId) AND (attribute_not_exists(typingAt) OR typingAt <= :cutoff)',
      ExpressionAttributeValues: { ':now': now, ':cutoff': now - LIMITS.typingThrottleMs },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
    signal,
  );
  if (!outcome.applied && outcome.item === undefined) throw new NotAMemberError(conversationId);
  return outcome.applied;
}
