/**
 * Steps 3 and 4 of a send (./send.ts): reserve a seq, then store the claimed message under it and mark
 * the claim done, in one transaction; again with a fresh seq when a reader filled the reserved one.
 */
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import {
  BusyError,
  cancellationReasons,
  THROTTLED_CANCELLATION_CODES,
  THROTTLED_RETRY_MS,
} from '../../shared/errors';
import type { ChatMessage, SendFrame } from '../../shared/protocol';
import type { Caller } from '../../shared/route-kit';
import { reserveSeq } from '../../shared/store/conversations';
import { type Claim, claimDoneItem } from '../../shared/store/idempotency';
import { fillHole, messagePutItem } from '../../shared/store/messages';
import { IN_FLIGHT_RETRY_MIN_MS, MIN_SEND_BUDGET_MS, type SendDeps } from './deps';

/** Reservations one send may make when readers keep filling its slots (it was slower than the lease). */
const MAX_RESERVATIONS = 3;

/** Positions of the items in the commit transaction; CancellationReasons are reported by index. */
const TX = { message: 0, claim: 1 } as const;

/** Attempts of one commit that keeps meeting a concurrent transaction on its two items. */
const COMMIT_ATTEMPTS = 3;

type CommitOutcome = 'stored' | 'slotTaken' | 'claimLost' | 'conflict' | 'throttled';

/**
 * Stores the message under its reserved seq and marks the claim finished, in one transaction. Both items
 * are this message's own, so concurrent senders never conflict here, whatever their number. Membership
 * was checked when the send began: a member removed while their send is in flight may still have that
 * one message stored, under a seq reserved while they were a member.
 */
async function commit(
  deps: SendDeps,
  message: ChatMessage,
  clientMessageId: string,
  attempt: Pick<Claim, 'key' | 'token'>,
  signal: AbortSignal,
): Promise<CommitOutcome> {
  const items = [
    messagePutItem(deps.tables, message, clientMessageId),
    claimDoneItem(deps.tables, attempt, message),
  ];
  try {
    await deps.ddb.send(new TransactWriteCommand({ TransactItems: items }), { abortSignal: signal });
    return 'stored';
  } catch (err: unknown) {
    const codes = cancellationReasons(err)?.map((reason) => reason.Code);
    if (codes === undefined) throw err;
    if (codes[TX.claim] === 'ConditionalCheckFailed') return 'claimLost';
    if (codes[TX.message] === 'ConditionalCheckFailed') return 'slotTaken';
    // Both items belong to this message alone, so a conflict is a reader filling the slot or a resend
    // taking the claim over at this very moment: the next attempt sees which.
    if (codes.includes('TransactionConflict')) return 'conflict';
    if (codes.some((code) => code !== undefined && THROTTLED_CANCELLATION_CODES.has(code)))
      return 'throttled';
    throw err;
  }
}

/**
 * Reserves a seq and stores the claimed message under it. A slot filled by a reader (this writer was
 * slower than the lease) is given up for a fresh reservation. A seq this writer reserved but cannot use
 * is filled with a tombstone by the writer itself, at once.
 */
export async function storeClaimed(
  deps: SendDeps,
  frame: SendFrame,
  caller: Caller,
  attempt: Pick<Claim, 'key' | 'token'>,
): Promise<ChatMessage> {
  const { conversationId, clientMessageId, body } = frame;
  for (let reservation = 1; reservation <= MAX_RESERVATIONS; reservation++) {
    if (caller.deadline - deps.now().getTime() < MIN_SEND_BUDGET_MS) {
      throw new BusyError('Too little time was left to store the message', MIN_SEND_BUDGET_MS);
    }
    const seq = await reserveSeq(deps, conversationId, deps.now().toISOString(), caller.signal);
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
    let outcome: CommitOutcome;
    try {
      outcome = await commit(deps, message, clientMessageId, attempt, caller.signal);
      for (let tries = 2; outcome === 'conflict' && tries <= COMMIT_ATTEMPTS; tries++) {
        outcome = await commit(deps, message, clientMessageId, attempt, caller.signal);
      }
    } catch (err: unknown) {
      // The commit failed (throttled, out of time, unreachable) with a seq reserved: fill it now rather
      // than let every reader wait a lease for it. If the commit did land after all, the fill finds the
      // slot taken and does nothing.
      await fillHole(deps.ddb, deps.tables, conversationId, seq, deps.now(), deps.metrics).catch(() => false);
      throw err;
    }
    if (outcome === 'stored') return message;
    if (outcome === 'slotTaken') {
      deps.logger.warn('A reader filled the reserved seq; reserving again', { reservation });
      continue;
    }
    // This writer reserved the seq and cannot use it: it fills the hole itself, at once.
    await fillHole(deps.ddb, deps.tables, conversationId, seq, deps.now(), deps.metrics);
    if (outcome === 'conflict') throw new BusyError('The message kept conflicting', THROTTLED_RETRY_MS);
    if (outcome === 'throttled') throw new BusyError('The conversation is saturated', THROTTLED_RETRY_MS);
    throw new BusyError('A later attempt of this message took it over', IN_FLIGHT_RETRY_MIN_MS);
  }
  throw new BusyError('The conversation kept taking the reserved seqs', THROTTLED_RETRY_MS);
}
