/**
 * Admission control for the local functions. On AWS each Lambda execution environment runs one
 * invocation at a time and concurrency scales out, so no invocation is slowed by the others. Locally
 * every invocation shares one Node process and one DynamoDB Local: a crowd let in all at once advances
 * together, misses its deadlines and answers `busy`. So each function runs at most a few invocations at
 * once and the others wait their turn, in arrival order. Unlike shared/admission.ts (the send's gate in
 * the handler, which answers `busy` past a wait budget), nothing here refuses: it stands for Lambda
 * scaling out, and a waiting frame ends only when API Gateway stops waiting for it.
 */

/**
 * Invocations of one function that run at once, by default. Measured on the 2,000-socket subscribe and
 * the hot conversation's burst (docs/measured.md, "Local admission control").
 */
export const DEFAULT_LOCAL_CONCURRENCY = 64;

/** A cap from the command line or the environment: a whole number of at least 1, or `off` (no cap). */
export function parseConcurrency(text: string | undefined): number {
  if (text === 'off') return Number.POSITIVE_INFINITY;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`A function's concurrency is a whole number of at least 1, or off; got ${text}`);
  }
  return value;
}

/** Why a waiting invocation never ran: its caller gave up on it (API Gateway's integration timeout). */
export class AdmissionAbandonedError extends Error {
  override readonly name = 'AdmissionAbandonedError';
  constructor(functionName: string) {
    super(`Abandoned while waiting to run (${functionName})`);
  }
}

/** One function's slots: `limit` invocations run at once, the others wait in arrival order. */
export class Admission {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  /** `limit` of Infinity admits everything at once (no admission control). */
  constructor(
    private readonly functionName: string,
    private readonly limit: number,
  ) {
    if (!(limit >= 1)) throw new Error(`A function's concurrency must be at least 1, got ${limit}`);
  }

  /** Invocations waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Runs `work` once a slot is free. A `signal` aborted while it waits takes it out of the line and
   * rejects with {@link AdmissionAbandonedError}; once it runs, the signal no longer matters.
   */
  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.running >= this.limit) await this.waitTurn(signal);
    else this.running++;
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  /** Resolves with a slot already counted as running: release() hands it over without a gap. */
  private waitTurn(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new AdmissionAbandonedError(this.functionName));
      const admit = () => {
        signal?.removeEventListener('abort', abandon);
        resolve();
      };
      const abandon = () => {
        const at = this.waiting.indexOf(admit);
        if (at !== -1) this.waiting.splice(at, 1);
        reject(new AdmissionAbandonedError(this.functionName));
      };
      signal?.addEventListener('abort', abandon, { once: true });
      this.waiting.push(admit);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.running--;
    else next();
  }
}
