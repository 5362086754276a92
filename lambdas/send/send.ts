/**
 * The `send` route: store a message under the next gap-free seq of its conversation (G2), remember its
 * clientMessageId (G3), enqueue it for fan-out, and only then ack (G1). No step waits for other
 * senders, and each is one request (step 1 a second one when its guess of the sender's bucket was
 * wrong), so a burst into one conversation costs per message what one sender costs (G9):
 *
 * 1. UpdateItem of the sender's member item: they are a member and take a token of their send rate
 *    (shared/store/conversations/send-bucket.ts); non-members and senders over the rate write nothing.
 * 2. PutItem: claim the clientMessageId (conditional; shared/store/idempotency.ts). A finished claim
 *    is a retry: re-enqueue and ack the original seq. A live claim is the same message still in
 *    flight: answer `busy`, adding no work.
 * 3. UpdateItem: reserve the next seq with an atomic `ADD lastSeq 1` on the counter (no read, no retry).
 * 4. TransactWriteItems: store the message under that seq (only if the slot is empty) and mark the
 *    claim done with the seq (only if it is still ours). Steps 3 and 4 are ./commit.ts.
 * 5. SendMessage to the FIFO queue, then ack.
 *
 * In a room (docs/rooms.md) step 1 runs beside a GetItem of the room's slow mode, and with slow mode on
 * an UpdateItem of the sender's member item takes their turn after step 2 (a refusal gives the claim
 * back): one request more per room message, two in slow mode; none in other conversations.
 *
 * A message with an attachment adds one S3 HeadObject after step 1 (shared/store/attachments.ts): the
 * object must be one confirmUpload verified, of the size and type the message claims, uploaded by the
 * sender. A plain-text send never reaches S3.
 *
 * A writer that dies between 3 and 4 leaves a hole, which the first reader past the writer lease fills
 * with a tombstone (shared/store/messages/pages.ts); a writer that comes back after that finds its slot
 * taken and reserves again. docs/design.md "How a message gets its seq" walks through every failure case.
 */
import { createHash, randomUUID } from 'node:crypto';
import { AttachmentRejectedError, asBusy, BusyError, ConflictError } from '../../shared/errors';
import { type ChatMessage, isTombstone, type SendAck, type SendFrame } from '../../shared/protocol';
import type { Caller } from '../../shared/route-kit';
import { checkReference } from '../../shared/store/attachments';
import { isRoomId, readSlowMode, takeSlowModeTurn } from '../../shared/store/conversations';
import { enqueue } from '../../shared/store/fanout-queue';
import { type Claim, claim, idempotencyKeyOf, releaseClaim } from '../../shared/store/idempotency';
import { getEntry } from '../../shared/store/messages';
import { storeClaimed } from './commit';
import { IN_FLIGHT_RETRY_MIN_MS, type SendDeps, takeToken } from './deps';

/**
 * The most: the first attempt's ack reaches the connection that sent it, but a client that reconnected
 * meanwhile only learns the outcome by asking again.
 */
const IN_FLIGHT_RETRY_MAX_MS = 5_000;

/**
 * What a clientMessageId stands for: a digest of the body and attachment, kept on the claim so that a
 * resend carrying other content is refused rather than acked as the message it is not.
 */
export const contentDigestOf = (frame: Pick<SendFrame, 'body' | 'attachment'>): string => {
  const { attachment } = frame;
  const content = [frame.body, attachment?.key, attachment?.contentType, attachment?.size];
  return createHash('sha256').update(JSON.stringify(content)).digest('base64url').slice(0, 22);
};

/**
 * Stores and enqueues one message and returns its ack. Resolves only after both the message is stored
 * and SendMessage succeeded (G1); any failure rejects, so the client resends with the same
 * clientMessageId and lands on the duplicate path, which re-enqueues (G3).
 * @throws NotAMemberError when the sender is not (or no longer) a member.
 * @throws RateLimitedError when the sender is over their send rate in this conversation.
 * @throws ConflictError when the clientMessageId already stands for a message with other content.
 * @throws BusyError when the same message is in flight, the conversation is saturated, or time ran out.
 */
export async function sendMessage(deps: SendDeps, frame: SendFrame, caller: Caller): Promise<SendAck> {
  const { conversationId, clientMessageId } = frame;
  const { signal } = caller;
  deps.logger.appendKeys({ conversationId });
  const attempt: Claim = {
    key: idempotencyKeyOf(conversationId, caller.userId, clientMessageId),
    conversationId,
    contentDigest: contentDigestOf(frame),
    token: (deps.newClaimToken ?? randomUUID)(),
  };
  let stored: ChatMessage | undefined;
  try {
    // 1. Non-members and senders over their rate are stopped before they write anything, even a claim.
    // A room's slow mode is read meanwhile: the one request a room adds to every send.
    const [, slowModeSeconds] = await Promise.all([
      takeToken(deps, conversationId, caller),
      isRoomId(conversationId) ? readSlowMode(deps.ddb, deps.tables, conversationId, signal) : 0,
    ]);
    if (frame.attachment !== undefined) await checkAttachment(deps, frame.attachment, caller);
    // 2. Claim the clientMessageId.
    const claimed = await claim(deps, attempt, deps.now().getTime(), signal);
    if (claimed.kind === 'finished') return await replayDuplicate(deps, frame, caller, claimed);
    if (claimed.kind === 'conflict') {
      throw new ConflictError(
        `clientMessageId ${clientMessageId} was already used for another message in this conversation; ` +
          'give each new message an id of its own',
      );
    }
    if (claimed.kind === 'inFlight') {
      throw new BusyError(
        'An earlier attempt of this message is still being stored, and its ack goes to the connection that sent it',
        Math.min(IN_FLIGHT_RETRY_MAX_MS, Math.max(IN_FLIGHT_RETRY_MIN_MS, claimed.leaseLeftMs)),
      );
    }
    if (claimed.tookOver) deps.logger.warn('Took over the claim of a send whose writer is gone');
    // 3 and 4. Reserve a seq and commit under it (./commit.ts).
    try {
      // A resend is never refused by slow mode: a finished one was answered above, and this turn
      // admits the same clientMessageId again.
      if (slowModeSeconds > 0) {
        await takeSlowModeTurn(deps.ddb, deps.tables, {
          conversationId,
          userId: caller.userId,
          clientMessageId,
          slowModeSeconds,
          now: deps.now().getTime(),
          signal,
        });
      }
      stored = await storeClaimed(deps, frame, caller, attempt);
    } finally {
      if (stored === undefined) await giveClaimBack(deps, attempt);
    }
    // 5. Enqueue, then ack.
    await enqueue(
      deps.sqs,
      deps.fanoutQueueUrl,
      { ...stored, senderConnectionId: caller.connectionId },
      signal,
    );
    deps.logger.info('Message stored');
    return {
      conversationId,
      seq: stored.seq,
      sentAt: stored.sentAt,
      senderId: caller.userId,
      duplicate: false,
    };
  } catch (err: unknown) {
    throw asBusy(err);
  }
}

/** The attachment check of a send that carries one, before anything is written. */
async function checkAttachment(
  deps: SendDeps,
  attachment: NonNullable<SendFrame['attachment']>,
  caller: Caller,
): Promise<void> {
  if (deps.attachments === undefined)
    throw new AttachmentRejectedError('This deployment takes no attachments');
  await checkReference(deps.attachments, attachment, caller.userId, caller.signal);
}

/** Gives the claim of a send that gave up back; if that fails, the claim's lease frees it anyway. */
async function giveClaimBack(deps: SendDeps, attempt: Claim): Promise<void> {
  try {
    await releaseClaim(deps, attempt);
  } catch (err: unknown) {
    // Not ours any more, or not reachable.
    deps.logger.warn('Could not release a send claim', { error: err instanceof Error ? err.message : err });
  }
}

/**
 * Re-enqueues the original message so that a fan-out lost after the first attempt is repaired; a message
 * its sender deleted since is not pushed again.
 */
async function replayDuplicate(
  deps: SendDeps,
  { conversationId }: SendFrame,
  { connectionId, userId, signal }: Caller,
  original: { seq: number; sentAt: string },
): Promise<SendAck> {
  deps.logger.appendKeys({ seq: original.seq });
  const entry = await getEntry(deps.ddb, deps.tables, conversationId, original.seq, signal);
  // The commit writes both items together, so a missing message means the tables were tampered with.
  if (entry === undefined || (isTombstone(entry) && !('deleted' in entry))) {
    throw new Error(`Message ${conversationId}:${original.seq} is missing`);
  }
  if (!isTombstone(entry))
    await enqueue(deps.sqs, deps.fanoutQueueUrl, { ...entry, senderConnectionId: connectionId }, signal);
  deps.logger.info('Duplicate send answered');
  return { conversationId, seq: original.seq, sentAt: original.sentAt, senderId: userId, duplicate: true };
}
