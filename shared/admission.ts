/**
 * Admission control for one execution environment: at most `maxInFlight` requests in progress at once,
 * the others waiting in arrival order, and a request that cannot start within its wait budget answered
 * `busy` before it makes a single AWS call.
 *
 * Why: when more requests run at once than the services behind them can serve, they all progress in
 * lock step, so every one of them finishes late, clients resend, and the resends make it worse (the
 * collapse issue 7 measured). Admitting a bounded number keeps each admitted request fast and turns the
 * excess into cheap, immediate `busy` answers with a `retryAfterMs` that spreads the resends out.
 *
 * On Lambda an execution environment runs one invocation at a time, so the gate never waits there; it
 * engages where many invocations share a process (the local runtime, or Lambda Managed Instances).
 */
import { BusyError } from './errors';

interface Waiter {
  admit: () => void;
  timer: NodeJS.Timeout;
}

export interface AdmissionOptions {
  maxInFlight: number;
  /** Uniform in [0, 1), like Math.random: spreads the retryAfterMs of refused requests. */
  random?: () => number;
  now?: () => number;
}

/** The least and most a refused request is told to wait. */
const RETRY_AFTER_MIN_MS = 250;
const RETRY_AFTER_MAX_MS = 10_000;

/** Weight of the newest sample in the running average of how long a request holds its place. */
const SMOOTHING = 0.2;

export class AdmissionGate {
  private inFlight = 0;
  private readonly waiting: Waiter[] = [];
  /** Running average of how long an admitted request holds its place, for the retry estimate. */
  private holdMs = 100;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly options: AdmissionOptions) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /**
   * Waits for a place, at most `maxWaitMs`, and resolves with the function that gives it back.
   * @throws BusyError when no place came free in time; its retryAfterMs is a random share of the time the
   *   queue ahead needs to drain, so refused clients do not all come back at the same moment.
   */
  enter(maxWaitMs: number): Promise<() => void> {
    if (this.inFlight < this.options.maxInFlight && this.waiting.length === 0) {
      return Promise.resolve(this.take());
    }
    if (maxWaitMs <= 0) return Promise.reject(this.refusal());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        admit: () => resolve(this.take()),
        timer: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(this.refusal());
        }, maxWaitMs),
      };
      this.waiting.push(waiter);
    });
  }

  /** Requests in progress and waiting, for logs and tests. */
  load(): { inFlight: number; waiting: number } {
    return { inFlight: this.inFlight, waiting: this.waiting.length };
  }

  private take(): () => void {
    this.inFlight++;
    const started = this.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.holdMs += SMOOTHING * (this.now() - started - this.holdMs);
      this.admitNext();
    };
  }

  private admitNext(): void {
    while (this.inFlight < this.options.maxInFlight) {
      const next = this.waiting.shift();
      if (next === undefined) return;
      clearTimeout(next.timer);
      next.admit();
    }
  }

  private refusal(): BusyError {
    const drainMs = ((this.waiting.length + this.inFlight) * this.holdMs) / this.options.maxInFlight;
    const spread = Math.round(this.random() * Math.min(drainMs, RETRY_AFTER_MAX_MS));
    return new BusyError('Too many requests are in progress here', Math.max(RETRY_AFTER_MIN_MS, spread));
  }
}
