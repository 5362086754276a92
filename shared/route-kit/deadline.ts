/** A route's time budget: the deadline it runs against, and the `busy` answer when it runs out. */
import { outOfTimeError } from '../errors';

/** The part of the Lambda context the route kit reads. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/**
 * Time kept back from the function's remaining time to answer before Lambda's timeout: past the
 * deadline the route kit answers `busy` with the frame's requestId, so a client never gets API Gateway's
 * anonymous "Internal server error" for a timed-out invocation.
 */
export const REPLY_MARGIN_MS = 1_000;

/** The budget of a route invoked without a Lambda context: API Gateway's 29 s integration timeout. */
export const INTEGRATION_TIMEOUT_MS = 29_000;

const EXPIRED = Symbol('expired');

/** Resolves with EXPIRED after `ms`, unless the returned cancel runs first. */
function expiry(ms: number): { expired: Promise<typeof EXPIRED>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<typeof EXPIRED>((resolve) => {
    timer = setTimeout(() => resolve(EXPIRED), Math.max(0, ms));
  });
  return { expired, cancel: () => clearTimeout(timer) };
}

/**
 * Runs a route against its deadline. At the deadline its signal is aborted, and it gets half the reply
 * margin to settle: its own cleanup (a send filling the seq it reserved, giving back its claim) must
 * happen before the reply, because Lambda runs nothing after the handler returns. An answer that arrives
 * in that time is still sent; otherwise the reply is `busy`.
 */
export async function withDeadline<T>(
  running: Promise<T>,
  budgetMs: number,
  abort: AbortController,
): Promise<T> {
  const deadline = expiry(budgetMs);
  try {
    const first = await Promise.race([running, deadline.expired]);
    if (first !== EXPIRED) return first;
  } finally {
    deadline.cancel();
  }
  abort.abort();
  const grace = expiry(REPLY_MARGIN_MS / 2);
  try {
    const settled = await Promise.race([
      running.then(
        (value): { value: T } => ({ value }),
        (): typeof EXPIRED => EXPIRED,
      ),
      grace.expired,
    ]);
    if (settled !== EXPIRED) return settled.value;
  } finally {
    grace.cancel();
  }
  throw outOfTimeError();
}
