/**
 * The `edit` and `delete` routes: the sender of a message replaces its body or deletes it. The message
 * keeps its seq; the change is stored on the message item and then enqueued in the conversation's FIFO
 * group, behind the message it changes, and only then acked (G1). Each is three requests:
 *
 * 1. UpdateItem of the caller's member item: they are a member and take a token of the same send bucket
 *    as their messages (shared/store/conversations/send-bucket.ts), since each change is fanned out like a message; non-members
 *    and callers over the rate write nothing.
 * 2. UpdateItem on the message, conditional on the caller being its sender and it not being deleted
 *    (an edit also on the body being different), with `ADD version 1`: concurrent changes serialize on
 *    the item and each gets its own version, so the last write wins without a read or a retry loop. A
 *    failed condition returns the item as it was, which says why in the same request: no message,
 *    someone else's, deleted, or already this body (a resend).
 * 3. SendMessage of the event (dedup id `conversationId:seq:v<version>`), then the ack.
 *
 * A resend of the same edit (same body) or of a delete finds its change already stored and enqueues the
 * event again, so a failed enqueue is repaired by the client resending, as for `send`.
 */
import { MessageNotFoundError, NotTheSenderError } from '../../shared/errors';
import type { DeleteAck, DeleteFrame, EditAck, EditFrame } from '../../shared/protocol';
import type { Caller } from '../../shared/route-kit';
import { deleteAttachment } from '../../shared/store/attachments';
import { isModerator, isRoomId } from '../../shared/store/conversations';
import { enqueue } from '../../shared/store/fanout-queue';
import { editBody, type MessageItem, markDeleted } from '../../shared/store/messages';
import { type SendDeps, takeToken } from './deps';

export type EditDeps = Pick<
  SendDeps,
  'ddb' | 'sqs' | 'tables' | 'fanoutQueueUrl' | 'now' | 'logger' | 'bucketHints' | 'attachments'
>;

/**
 * Why the change was refused, unless it is a resend of a change already made (then undefined). A
 * missing item, a dead writer's tombstone and (for an edit) a deleted message are not found; someone
 * else's message is forbidden.
 */
function refusal(
  old: MessageItem | undefined,
  frame: { conversationId: string; seq: number },
  userId: string,
  action: 'edit' | 'delete',
): Error | undefined {
  const { conversationId, seq } = frame;
  if (old === undefined || old.tombstone === true || typeof old.senderId !== 'string') {
    return new MessageNotFoundError(conversationId, seq);
  }
  if (old.senderId !== userId) return new NotTheSenderError(seq);
  if (old.deleted === true && action === 'edit') {
    return new MessageNotFoundError(conversationId, seq, 'it was deleted');
  }
  return undefined;
}

/**
 * Replaces the body of the caller's own message and enqueues the `edited` event; resolves only after
 * both (G1). The same body again changes nothing and re-enqueues the current version.
 * @throws NotAMemberError when the caller is not a member.
 * @throws RateLimitedError when the caller is over their send rate in this conversation.
 * @throws NotTheSenderError when the message is someone else's.
 * @throws MessageNotFoundError when there is no message at `seq`, only a tombstone, or it was deleted.
 * Throttling and running out of time are thrown as they come; the route answers them `busy`.
 */
export async function editMessage(deps: EditDeps, frame: EditFrame, caller: Caller): Promise<EditAck> {
  const { conversationId, seq, body } = frame;
  deps.logger.appendKeys({ conversationId, seq });
  await takeToken(deps, conversationId, caller);
  const editedAt = deps.now().toISOString();
  const result = await editBody(
    deps.ddb,
    deps.tables,
    { conversationId, seq, senderId: caller.userId },
    { body, editedAt },
    caller.signal,
  );
  const item = result.updated ? result.item : result.old;
  if (!result.updated) {
    const refused = refusal(item, frame, caller.userId, 'edit');
    if (refused !== undefined) throw refused;
  }
  const version = item?.version ?? 0;
  const stored = { conversationId, seq, version, duplicate: !result.updated };
  // A message "edited" to the body it was sent with has no edit to fan out.
  if (item?.editedAt === undefined) return stored;
  await enqueue(
    deps.sqs,
    deps.fanoutQueueUrl,
    { kind: 'edit', conversationId, seq, body, editedAt: item.editedAt, version },
    caller.signal,
  );
  deps.logger.info(result.updated ? 'Message edited and enqueued' : 'Repeated edit re-enqueued', { version });
  return { ...stored, editedAt: item.editedAt };
}

/**
 * Deletes the caller's own message or, for an admin of a room, anyone's there (one more GetItem, of the
 * admin's member item, only when the message is someone else's: docs/rooms.md): its body and attachment
 * reference are removed, its seq stays, marked deleted. Deletes its attachment's object if it had one
 * (one S3 DeleteObject), and enqueues the `deleted` event; resolves only after both (G1). Deleting again changes nothing and re-enqueues.
 * @throws NotAMemberError when the caller is not a member.
 * @throws RateLimitedError when the caller is over their send rate in this conversation.
 * @throws NotTheSenderError when the message is someone else's (and the caller moderates no room).
 * @throws MessageNotFoundError when there is no message at `seq`, or only a tombstone.
 * Throttling and running out of time are thrown as they come; the route answers them `busy`.
 */
export async function deleteMessage(deps: EditDeps, frame: DeleteFrame, caller: Caller): Promise<DeleteAck> {
  const { conversationId, seq } = frame;
  deps.logger.appendKeys({ conversationId, seq });
  await takeToken(deps, conversationId, caller);
  const now = deps.now().toISOString();
  const as = (senderId: string) =>
    markDeleted(deps.ddb, deps.tables, { conversationId, seq, senderId }, now, caller.signal);
  let result = await as(caller.userId);
  let senderId = caller.userId;
  const other = result.updated ? undefined : result.old?.senderId;
  // A room's admins moderate it: someone else's message is deleted as its sender would.
  if (
    typeof other === 'string' &&
    other !== caller.userId &&
    isRoomId(conversationId) &&
    (await isModerator(deps.ddb, deps.tables, conversationId, caller.userId, caller.signal))
  ) {
    senderId = other;
    result = await as(other);
  }
  const item = result.updated ? result.item : result.old;
  if (!result.updated) {
    const refused = refusal(item, frame, senderId, 'delete');
    if (refused !== undefined) throw refused;
  }
  // Only once the message is marked deleted, and before the enqueue: a delete resent after a failed
  // enqueue finds the message already deleted and would not know the key any more. A failure is
  // logged and left (docs/security.md, Attachments), never the user's failure.
  if (result.updated && result.removedAttachment !== undefined && deps.attachments !== undefined) {
    await deleteAttachment(deps.attachments, result.removedAttachment.key, deps.logger, caller.signal);
  }
  const version = item?.version ?? 0;
  const deletedAt = String(item?.deletedAt);
  await enqueue(
    deps.sqs,
    deps.fanoutQueueUrl,
    { kind: 'delete', conversationId, seq, deletedAt, version },
    caller.signal,
  );
  deps.logger.info(result.updated ? 'Message deleted and enqueued' : 'Repeated delete re-enqueued', {
    version,
  });
  return { conversationId, seq, version, deletedAt, duplicate: !result.updated };
}
