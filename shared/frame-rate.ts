/**
 * A per-connection frame rate, counted in memory, so one noisy client is refused before its frames cost
 * an AWS call. GCRA: one number per connection, the time at which
 * its bucket would be full again.
 *
 * What holds where: the local runtime runs each function in one process, so there the cap is exact per
 * function. On AWS each execution environment counts only the frames it serves, and API Gateway spreads
 * a connection's frames over every environment of the route's function, so a connection may pass up to
 * (environments × the cap); the stage's own throttle (lib/chat-api.ts) stays the hard ceiling.
 */
export interface FrameRate {
  ratePerSecond: number;
  burst: number;
  /** Connections remembered at once; the least recently seen is forgotten first. @default 10_000 */
  maxConnections?: number;
}

export class ConnectionFrameLimiter {
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  private readonly maxConnections: number;
  private readonly tats = new Map<string, number>();

  constructor(rate: FrameRate) {
    this.intervalMs = 1_000 / rate.ratePerSecond;
    this.toleranceMs = (rate.burst - 1) * this.intervalMs;
    this.maxConnections = rate.maxConnections ?? 10_000;
  }

  /** Takes a token for one frame of `connectionId`; returns undefined if allowed, else the ms to wait. */
  take(connectionId: string, now: number): number | undefined {
    const tat = Math.max(this.tats.get(connectionId) ?? now, now);
    const over = tat - now - this.toleranceMs;
    if (over > 0) return Math.ceil(over);
    // Re-inserted so the map's order is least recently seen first.
    this.tats.delete(connectionId);
    this.tats.set(connectionId, tat + this.intervalMs);
    if (this.tats.size > this.maxConnections) {
      const oldest = this.tats.keys().next().value;
      if (oldest !== undefined) this.tats.delete(oldest);
    }
    return undefined;
  }
}
