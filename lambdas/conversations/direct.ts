/** Direct conversations: the one conversation of two users, opened the same way whoever asks first. */
import { createHash } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { cancellationReasons, ValidationError } from '../../shared/errors';
import type { ConversationSummary } from '../../shared/protocol';
import { createConversation, readMeta } from '../../shared/store/conversations';
import type { TableNames } from '../../shared/tables';

/** Attempts of `openDirect` whose transaction met the other user's, and the most it waits between them. */
const DIRECT_ATTEMPTS = 4;
const DIRECT_RETRY_MAX_MS = 100;

/**
 * The id of the one direct conversation of two users: the same whoever asks, and never a random
 * conversation's (those are UUIDs, which have no `dm-` prefix).
 */
export function directConversationId(a: string, b: string): string {
  const pair = JSON.stringify([a, b].sort());
  return `dm-${createHash('sha256').update(pair).digest('base64url')}`;
}

/**
 * Opens the direct conversation of the caller and one other user, creating it the first time: asking
 * twice, or both users asking at once, returns the same conversation. It has exactly those two members,
 * no title, and takes no other members. Creating it takes both users' conversation slots in its
 * transaction, refused when the other user blocks the caller (their `whoCanAdd` does not apply: anyone
 * may open one, and a block is the answer to an unwanted one); one that exists already is returned as it is.
 * @throws ValidationError for a title, another member count, or oneself.
 * @throws NotAllowedError when the other user blocks the caller; LimitExceededError when either is at their cap.
 */
export async function openDirect(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  callerId: string,
  frame: { members: string[]; title?: string | undefined },
  now: Date,
  sleep: (ms: number) => Promise<void>,
): Promise<ConversationSummary> {
  const [other] = frame.members;
  if (frame.members.length !== 1 || other === undefined || other === callerId || frame.title !== undefined) {
    throw new ValidationError([
      'members: a direct conversation names exactly one other user, and has no title',
    ]);
  }
  const conversationId = directConversationId(callerId, other);
  for (let attempt = 1; ; attempt++) {
    try {
      return await createConversation(ddb, tables, {
        conversationId,
        members: [callerId, other],
        createdBy: callerId,
        now,
        direct: true,
      });
    } catch (err: unknown) {
      const codes = cancellationReasons(err)?.map((reason) => reason.Code) ?? [];
      if (codes.includes('ConditionalCheckFailed')) break;
      // Both users opening it at the same moment: DynamoDB may cancel both transactions. One of them
      // wins on the next attempt, and the other then finds it.
      if (!codes.includes('TransactionConflict') || attempt >= DIRECT_ATTEMPTS) throw err;
      await sleep(Math.random() * DIRECT_RETRY_MAX_MS);
    }
  }
  // It exists already (or the other user created it a moment ago): answer with it.
  const meta = await readMeta(ddb, tables, conversationId);
  if (meta === undefined) throw new Error(`Direct conversation ${conversationId} has members but no META`);
  return {
    conversationId,
    direct: true,
    members: Array.isArray(meta.members) ? meta.members.map(String) : [callerId, other],
    createdBy: String(meta.createdBy),
    createdAt: String(meta.createdAt),
    lastSeq: typeof meta.lastSeq === 'number' ? meta.lastSeq : 0,
  };
}
