/** Read cursors: `readSeq` on each member's `MEMBER#` item, the last seq that member has seen. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NotAMemberError, ValidationError } from '../../errors';
import { memberSk, type TableNames } from '../../tables';
import { updateIf } from '../conditions';
import { requireMember } from './members';
import { readCounter } from './meta';

/**
 * Moves the caller's read cursor (`readSeq` on their member item) forward to `seq`; it never moves
 * back, so receipts arriving out of order are harmless. A consistent read of META (`lastSeq`, and
 * `memberCount` for the read event), then one conditional UpdateItem. A cursor past `lastSeq` would hold unread at 0 for good and tell the others
 * "seen" of messages not yet written, so it is refused; a pushed seq is never past it (the counter moves
 * before the message is stored).
 * @returns the cursor after the call, and whether this call moved it.
 * @throws NotAMemberError when the caller is not a member (checked before a seq past the end is named).
 * @throws ValidationError when `seq` is past the conversation's last seq; nothing is written.
 */
export async function markRead(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
  userId: string,
  seq: number,
  now: Date,
): Promise<{ readSeq: number; moved: boolean; memberCount?: number }> {
  const { lastSeq, memberCount: count } = await readCounter(ddb, tables, conversationId);
  const memberCount = count === undefined ? {} : { memberCount: count };
  if (seq > lastSeq) {
    // Only a member learns where the conversation ends.
    await requireMember(ddb, tables, conversationId, userId);
    throw new ValidationError([`seq: ${seq} is past the conversation's last seq, ${lastSeq}`]);
  }
  const outcome = await updateIf(ddb, {
    TableName: tables.conversations,
    Key: { conversationId, sk: memberSk(userId) },
    UpdateExpression: 'SET readSeq = :seq, readAt = :now',
    ConditionExpression:
      'attribute_exists(conversationId) AND (attribute_not_exists(readSeq) OR readSeq < :seq)',
    ExpressionAttributeValues: { ':seq': seq, ':now': now.toISOString() },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });
  if (outcome.applied) return { readSeq: seq, moved: true, ...memberCount };
  if (outcome.item === undefined) throw new NotAMemberError(conversationId);
  return { readSeq: Number(outcome.item.readSeq ?? seq), moved: false, ...memberCount };
}
