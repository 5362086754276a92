/**
 * Steps 3 to 5 of a send (./send.ts): reserve a seq, mark the claim with it, then store the message
 * there; again with a fresh seq when a reader filled the reserved one. Each write is a plain conditional
 * write of one item, 1 WCU under 1 KB (a transaction of the same two items cost 4): the claim names the
 * seq before the message is stored, so whatever fails in between, a resend finds the message, or its
 * absence, at the claim's seq.
 */
import { BusyError, THROTTLED_RETRY_MS } from '../../shared/errors';
import { type ChatMessage, isTombstone, type SendFrame } from '../../shared/protocol';
import type { MessageRecord } from '../../shared/queue-body';
import type { Caller } from '../../shared/route-kit';
import { isRoomId, reserveCounted } from '../../shared/store/conversations';
import { type Claim, markClaim, releaseClaim } from '../../shared/store/idempotency';
import { fillHole, getEntry, putMessage } from '../../shared/store/messages';
import { IN_FLIGHT_RETRY_MIN_MS, MIN_SEND_BUDGET_MS, type SendDeps } from './deps';

/** A message as stored, with a room's member count as its seq was reserved (its pushes carry it). */
export type StoredMessage = ChatMessage & Pick<MessageRecord, 'viewers'>;

/** Reservations one send may make when readers keep filling its slots (it was slower than the lease). */
const MAX_RESERVATIONS = 3;

/** How placing a message at its reserved seq ended. */
type Placement = 'stored' | 'slotTaken' | 'claimLost';

/** Whether the claim may be given back: false once a message of this attempt may have been stored. */
interface Release {
  safe: boolean;
}

/**
 * Marks the claim with the message's seq (moving it from `marked`), then stores the message there. A
 * seq this writer reserved but cannot use is filled with a tombstone by the writer itself, at once.
 */
async function place(
  deps: SendDeps,
  attempt: Pick<Claim, 'key' | 'token'>,
  message: ChatMessage,
  clientMessageId: string,
  marked: number | undefined,
  release: Release,
  signal: AbortSignal,
): Promise<Placement> {
  const { conversationId, seq } = message;
  const fill = () => fillHole(deps.ddb, deps.tables, conversationId, seq, deps.now(), deps.metrics);
  let ours: boolean;
  try {
    ours = await markClaim(deps, attempt, message, marked, signal);
  } catch (err: unknown) {
    // Whether the mark landed or not, no message is stored: the slot must not wait a lease for a reader.
    await fill().catch(() => false);
    throw err;
  }
  if (!ours) {
    await fill();
    return 'claimLost';
  }
  try {
    // False: a reader filled the slot first (this writer was slower than the lease).
    return (await putMessage(deps.ddb, deps.tables, message, clientMessageId, signal))
      ? 'stored'
      : 'slotTaken';
  } catch (err: unknown) {
    // The put failed (throttled, out of time, unreachable) but may have landed: the fill tells which.
    const filled = await fill().catch(() => undefined);
    if (filled === false) {
      const entry = await getEntry(deps.ddb, deps.tables, conversationId, seq).catch(() => undefined);
      if (entry !== undefined && !isTombstone(entry)) return 'stored';
      if (entry === undefined) release.safe = false;
    }
    if (filled === undefined) release.safe = false;
    throw err;
  }
}

/**
 * Reserves a seq, marks the claim with it and stores the claimed message there. A slot filled by a
 * reader is given up for a fresh reservation, the claim moving along. On a failure the claim is given
 * back when no message of this attempt can be stored, so a resend starts at once; otherwise it stays
 * marked and a resend finds out at its seq. `previousSeq`: the seq a taken-over claim names, filled.
 */
export async function storeClaimed(
  deps: SendDeps,
  frame: SendFrame,
  caller: Caller,
  attempt: Pick<Claim, 'key' | 'token'>,
  previousSeq?: number,
): Promise<StoredMessage> {
  const { conversationId, clientMessageId, body } = frame;
  const release: Release = { safe: true };
  let marked = previousSeq;
  try {
    for (let reservation = 1; reservation <= MAX_RESERVATIONS; reservation++) {
      if (caller.deadline - deps.now().getTime() < MIN_SEND_BUDGET_MS) {
        throw new BusyError('Too little time was left to store the message', MIN_SEND_BUDGET_MS);
      }
      // A room's viewer count comes back with the seq, for its pushes: no request of its own.
      const { seq, memberCount } = await reserveCounted(deps, conversationId, deps.now().toISOString(), {
        signal: caller.signal,
        count: isRoomId(conversationId),
      });
      deps.logger.appendKeys({ seq });
      // sentAt is taken after the reservation: readers rely on it being later than the seq's reservation.
      const message: ChatMessage = {
        conversationId,
        seq,
        senderId: caller.userId,
        body,
        sentAt: deps.now().toISOString(),
        ...(frame.attachment === undefined ? {} : { attachment: frame.attachment }),
      };
      const placement = await place(deps, attempt, message, clientMessageId, marked, release, caller.signal);
      if (placement === 'stored')
        return memberCount === undefined ? message : { ...message, viewers: memberCount };
      if (placement === 'claimLost') {
        release.safe = false;
        throw new BusyError('A later attempt of this message took it over', IN_FLIGHT_RETRY_MIN_MS);
      }
      deps.logger.warn('A reader filled the reserved seq; reserving again', { reservation });
      marked = seq;
    }
    throw new BusyError('The conversation kept taking the reserved seqs', THROTTLED_RETRY_MS);
  } catch (err: unknown) {
    if (release.safe) await giveClaimBack(deps, attempt);
    throw err;
  }
}

/** Gives the claim of a send that gave up back; if that fails, the claim's lease frees it anyway. */
export async function giveClaimBack(deps: SendDeps, attempt: Pick<Claim, 'key' | 'token'>): Promise<void> {
  try {
    await releaseClaim(deps, attempt);
  } catch (err: unknown) {
    // Not ours any more, or not reachable.
    deps.logger.warn('Could not release a send claim', { error: err instanceof Error ? err.message : err });
  }
}
