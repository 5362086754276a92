/** Full-jitter retry spacing shared by the retry loops that contend with others (posting, batch writes). */

export interface BackoffPolicy {
  /** Ceiling after the first failed attempt; it doubles per attempt up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Full-jitter backoff: a random delay below an exponentially growing ceiling, so many workers that
 * failed at the same moment do not retry in lockstep.
 * @param failedAttempts attempts made so far (1 after the first failure).
 * @param random uniform in [0, 1), like Math.random; injected so tests control the jitter.
 */
export function fullJitterDelay(failedAttempts: number, random: () => number, policy: BackoffPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedAttempts - 1));
  return Math.floor(random() * ceiling);
}
