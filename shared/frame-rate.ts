/**
 * A per-connection frame rate, counted in memory, so one noisy client is refused before its frames cost
 * an AWS call. GCRA: per connection, the time at which its bucket would be full again, plus what it takes
 * to tell a client that keeps sending while refused from one that waits as it is told.
 *
 * What holds where: the local runtime runs each function in one process, so there the cap is exact per
 * function. On AWS each execution environment counts only the frames it serves, and API Gateway spreads
 * a connection's frames over every environment of the route's function, so a connection may pass up to
 * (environments × the cap); the stage's own throttle (lib/chat-api.ts) stays the hard ceiling. A refused
 * frame has already been charged to that throttle, so refusing alone does not stop a client that ignores
 * the answers: past `closeAfterRefused` the caller closes the connection.
 */
export interface FrameRate {
  ratePerSecond: number;
  burst: number;
  /**
   * Frames refused since the connection's bucket was last full after which {@link ConnectionFrameLimiter.take}
   * says to close the connection, once. A client that waits the `retryAfterMs` it is told is refused each
   * frame about once, so it reaches this only with more frames than this in flight beyond the burst.
   * @default never
   */
  closeAfterRefused?: number;
  /** Connections remembered at once; the least recently seen is forgotten first. @default 10_000 */
  maxConnections?: number;
}

/** A refused frame: when to resend it, and whether its connection is now to be closed. */
export interface FrameRefusal {
  retryAfterMs: number;
  /** True once per connection, for the frame that reaches `closeAfterRefused`. */
  close: boolean;
  /** Frames refused since the bucket was last full, this one included. */
  refused: number;
}

interface ConnectionState {
  /** GCRA's theoretical arrival time of the admitted frames. */
  tat: number;
  /** The latest time a refused frame was told to come back; the next refusal is told one interval later. */
  promised: number;
  refused: number;
  closed: boolean;
}

export class ConnectionFrameLimiter {
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  private readonly closeAfterRefused: number;
  private readonly maxConnections: number;
  private readonly connections = new Map<string, ConnectionState>();

  constructor(rate: FrameRate) {
    this.intervalMs = 1_000 / rate.ratePerSecond;
    this.toleranceMs = (rate.burst - 1) * this.intervalMs;
    this.closeAfterRefused = rate.closeAfterRefused ?? Number.POSITIVE_INFINITY;
    this.maxConnections = rate.maxConnections ?? 10_000;
  }

  /**
   * Takes a token for one frame of `connectionId`; returns undefined if allowed, else the refusal.
   *
   * Frames refused together are told to come back one interval apart, each to a token of its own: told
   * the same time, they would all come back at once, one would be admitted and the rest refused again,
   * so a client that waits as told would be refused as often as one that floods.
   */
  take(connectionId: string, now: number): FrameRefusal | undefined {
    const state = this.connections.get(connectionId) ?? {
      tat: now,
      promised: Number.NEGATIVE_INFINITY,
      refused: 0,
      closed: false,
    };
    // A full bucket: the connection stayed under the cap long enough to earn its whole burst back.
    if (state.tat <= now) state.refused = 0;
    const tat = Math.max(state.tat, now);
    const over = tat - now - this.toleranceMs;
    let refusal: FrameRefusal | undefined;
    if (over > 0) {
      state.promised = Math.max(now + over, state.promised + this.intervalMs);
      state.refused++;
      const close = !state.closed && state.refused >= this.closeAfterRefused;
      if (close) state.closed = true;
      refusal = { retryAfterMs: Math.ceil(state.promised - now), close, refused: state.refused };
    } else {
      state.tat = tat + this.intervalMs;
    }
    this.remember(connectionId, state);
    return refusal;
  }

  /** Re-inserts the connection, so the map's order is least recently seen first, and bounds its size. */
  private remember(connectionId: string, state: ConnectionState): void {
    this.connections.delete(connectionId);
    this.connections.set(connectionId, state);
    if (this.connections.size > this.maxConnections) {
      const oldest = this.connections.keys().next().value;
      if (oldest !== undefined) this.connections.delete(oldest);
    }
  }
}
