/**
 * A room's slow mode (docs/rooms.md): each member posts at most once per META `slowModeSeconds`. The
 * member's last post is `slowPostAt` (ms since the epoch) on their `MEMBER#` item, with the
 * clientMessageId that took it (`slowPostId`), so a resend of that same message is never refused by
 * its own turn. Neither attribute is projected into the byMember index, so writing them costs the index
 * nothing.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { NotAMemberError, RateLimitedError } from '../../errors';
import { META_SK, memberSk, type TableNames } from '../../tables';
import { updateIf } from '../conditions';

type Tables = Pick<TableNames, 'conversations'>;

/**
 * A room's slow mode in seconds (0: off), read consistently so that a mode an admin just set holds for
 * the next message: one GetItem of META, projected to the one attribute.
 */
export async function readSlowMode(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  conversationId: string,
  signal?: AbortSignal,
): Promise<number> {
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.conversations,
      Key: { conversationId, sk: META_SK },
      ConsistentRead: true,
      ProjectionExpression: 'slowModeSeconds',
    }),
    { abortSignal: signal },
  );
  return typeof Item?.slowModeSeconds === 'number' ? Item.slowModeSeconds : 0;
}

/**
 * Takes the member's turn to post in a slow-mode room: one conditional UpdateItem of their member item
 * that sets `slowPostAt` only if their last post is `slowModeSeconds` old or more, or was this same
 * message (`clientMessageId`).
 * @throws RateLimitedError with the time until their next turn; nothing is written.
 * @throws NotAMemberError when `userId` is no member.
 */
export async function takeSlowModeTurn(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  input: {
    conversationId: string;
    userId: string;
    clientMessageId: string;
    slowModeSeconds: number;
    now: number;
    signal?: AbortSignal;
  },
): Promise<void> {
  const { conversationId, slowModeSeconds, now } = input;
  const intervalMs = slowModeSeconds * 1_000;
  const outcome = await updateIf(
    ddb,
    {
      TableName: tables.conversations,
      Key: { conversationId, sk: memberSk(input.userId) },
      UpdateExpression: 'SET slowPostAt = :now, slowPostId = :id',
      ConditionExpression:
        'attribute_exists(conversationId) AND (attribute_not_exists(slowPostAt) OR slowPostAt <= :cutoff OR slowPostId = :id)',
      ExpressionAttributeValues: { ':now': now, ':cutoff': now - intervalMs, ':id': input.clientMessageId },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
    input.signal,
  );
  if (outcome.applied) return;
  if (outcome.item === undefined) throw new NotAMemberError(conversationId);
  const last = typeof outcome.item.slowPostAt === 'number' ? outcome.item.slowPostAt : now;
  throw new RateLimitedError(
    `Slow mode: each member may post one message every ${slowModeSeconds} s in this room`,
    Math.max(1, last + intervalMs - now),
  );
}
