/**
 * The `send` route: store a message under the next gap-free seq of its conversation (G2), remember its
 * clientMessageId (G3), enqueue it for fan-out, and only then ack (G1). No step waits for other
 * senders, and each is one request (step 1 a second one when its guess of the sender's bucket was
 * wrong), so a burst into one conversation costs per message what one sender costs (G9):
 *
 * 1. UpdateItem of the sender's member item: they are a member and take a token of their send rate
 *    (shared/store/conversations/send-bucket.ts); non-members and senders over the rate write nothing.
 * 2. PutItem: claim the clientMessageId (conditional; shared/store/idempotency.ts). A claim marked
 *    with a seq whose slot holds the message is a retry: re-enqueue and ack the original seq. A live
 *    claim is the same message still in flight: answer `busy`, adding no work.
 * 3. UpdateItem: reserve the next seq with an atomic `ADD lastSeq 1` on the counter (no read, no retry);
 *    in a room it also returns the member count, which the ack and the pushes carry as `viewers`.
 * 4. UpdateItem: mark the claim with that seq (only if it is still ours).
 * 5. PutItem: store the message under that seq (only if the slot is empty). Steps 3 to 5 are
 *    ./commit.ts: two plain writes of 1 WCU each where a transaction of the same items cost 4.
 * 6. SendMessage to the FIFO queue, then ack.
 *
 * In a room (docs/rooms.md) step 1 runs beside a GetItem of the room's slow mode, and with slow mode on
 * an UpdateItem of the sender's member item takes their turn after step 2 (a refusal gives the claim
 * back): one request more per room message, two in slow mode; none in other conversations.
 *
 * A message with an attachment adds one S3 HeadObject after step 1 (shared/store/attachments.ts): the
 * object must be one confirmUpload verified, of the size and type the message claims, uploaded by the
 * sender. A plain-text send never reaches S3.
 *
 * A writer that dies between 3 and 5 leaves a hole, which the first reader past the writer lease fills
 * with a tombstone (shared/store/messages/pages.ts); a writer that comes back after that finds its slot
 * taken and reserves again. A resend that finds the claim marked with a seq holding no message waits
 * the lease out, then takes the claim over and stores the message itself (after filling that seq).
 * docs/design.md "How a message gets its seq" walks through every failure case.
 */
import { createHash, randomUUID } from 'node:crypto';
import { AttachmentRejectedError, asBusy, BusyError, ConflictError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { isTombstone, type SendAck, type SendFrame, type StoredEntry } from '../../shared/protocol';
import type { Caller } from '../../shared/route-kit';
import { checkReference } from '../../shared/store/attachments';
import { isRoomId, readSlowMode, takeSlowModeTurn } from '../../shared/store/conversations';
import { enqueue } from '../../shared/store/fanout-queue';
import {
  type Claim,
  type ClaimOutcome,
  claim,
  idempotencyKeyOf,
  takeOver,
} from '../../shared/store/idempotency';
import { fillHole, getEntry } from '../../shared/store/messages';
import { giveClaimBack, type StoredMessage, storeClaimed } from './commit';
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
    if (claimed.kind === 'conflict') {
      throw new ConflictError(
        `clientMessageId ${clientMessageId} was already used for another message in this conversation; ` +
          'give each new message an id of its own',
      );
    }
    if (claimed.kind === 'inFlight') throw inFlight(claimed.leaseLeftMs);
    let stored: StoredMessage;
    if (claimed.kind === 'finished') {
      const resumed = await resumeMarked(deps, frame, caller, attempt, claimed);
      if ('duplicate' in resumed) return resumed;
      stored = resumed;
    } else {
      if (claimed.tookOver) deps.logger.warn('Took over the claim of a send whose writer is gone');
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
        }).catch(async (err: unknown) => {
          await giveClaimBack(deps, attempt);
          throw err;
        });
      }
      // 3 to 5. Reserve a seq, mark the claim with it, store the message there (./commit.ts).
      stored = await storeClaimed(deps, frame, caller, attempt);
    }
    // 6. Enqueue, then ack.
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
      ...(stored.viewers !== undefined && { viewers: stored.viewers }),
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

/** `busy` for a resend of a message an earlier attempt is still storing. */
const inFlight = (leaseLeftMs: number): BusyError =>
  new BusyError(
    'An earlier attempt of this message is still being stored, and its ack goes to the connection that sent it',
    Math.min(IN_FLIGHT_RETRY_MAX_MS, Math.max(IN_FLIGHT_RETRY_MIN_MS, leaseLeftMs)),
  );

/**
 * A resend whose claim is marked with a seq. The message stored there is answered as the duplicate it
 * is, re-enqueued so that a fan-out lost after the first attempt is repaired (a message its sender
 * deleted since is not pushed again). A seq holding no message means the writer is still storing it (or
 * moving on from a slot a reader filled) until the lease runs out, then that it is gone: the claim is
 * taken over, the seq filled, and the message stored now.
 * @returns the duplicate's ack, or the message this attempt stored.
 */
async function resumeMarked(
  deps: SendDeps,
  frame: SendFrame,
  caller: Caller,
  attempt: Claim,
  marked: Extract<ClaimOutcome, { kind: 'finished' }>,
): Promise<SendAck | StoredMessage> {
  const { conversationId } = frame;
  const { seq } = marked;
  deps.logger.appendKeys({ seq });
  const duplicate = async (entry: StoredEntry): Promise<SendAck | undefined> => {
    if (isTombstone(entry) && !('deleted' in entry)) return undefined;
    if (!isTombstone(entry))
      await enqueue(
        deps.sqs,
        deps.fanoutQueueUrl,
        { ...entry, senderConnectionId: caller.connectionId },
        caller.signal,
      );
    deps.logger.info('Duplicate send answered');
    return { conversationId, seq, sentAt: marked.sentAt, senderId: caller.userId, duplicate: true };
  };
  const entry = await getEntry(deps.ddb, deps.tables, conversationId, seq, caller.signal);
  const answered = entry === undefined ? undefined : await duplicate(entry);
  if (answered !== undefined) return answered;
  const now = deps.now().getTime();
  const leaseLeftMs = Date.parse(marked.sentAt) + LIMITS.writerLeaseMs - now;
  if (leaseLeftMs > 0) throw inFlight(leaseLeftMs);
  const taken = await takeOver(deps, attempt, marked.token, seq, now, caller.signal);
  if (taken.kind !== 'claimed') throw inFlight(0);
  deps.logger.warn('Took over the marked claim of a send whose writer is gone');
  if (
    entry === undefined &&
    !(await fillHole(deps.ddb, deps.tables, conversationId, seq, deps.now(), deps.metrics))
  ) {
    // The writer stored it a moment ago after all.
    const late = await getEntry(deps.ddb, deps.tables, conversationId, seq, caller.signal);
    const lateAnswer = late === undefined ? undefined : await duplicate(late);
    if (lateAnswer !== undefined) return lateAnswer;
  }
  return storeClaimed(deps, frame, caller, attempt, seq);
}
