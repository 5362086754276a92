import { describe, expect, it } from 'vitest';
import { ConnectionFrameLimiter } from '../../shared/frame-rate';
import { LIMITS } from '../../shared/limits';
import { CONNECTION_FRAME_RATE } from '../../shared/route-kit';

describe('ConnectionFrameLimiter', () => {
  it('admits the burst at once, then one frame per interval, and says how long to wait', () => {
    // Prepare
    const limiter = new ConnectionFrameLimiter({ ratePerSecond: 4, burst: 2 });

    // Act
    const answers = [
      limiter.take('c', 0),
      limiter.take('c', 0),
      limiter.take('c', 0),
      limiter.take('c', 250),
    ];

    // Assess
    expect(answers).toEqual([
      undefined,
      undefined,
      { retryAfterMs: 250, close: false, refused: 1 },
      undefined,
    ]);
  });

  it('tells frames refused together to come back one interval apart, and admits each when it does', () => {
    // Prepare
    const limiter = new ConnectionFrameLimiter({ ratePerSecond: 4, burst: 2 });
    limiter.take('c', 0);
    limiter.take('c', 0);

    // Act
    const told = [limiter.take('c', 0), limiter.take('c', 0), limiter.take('c', 0)].map(
      (refusal) => refusal?.retryAfterMs,
    );
    const comingBack = told.map((waitMs) => limiter.take('c', Number(waitMs)));

    // Assess
    expect(told).toEqual([250, 500, 750]);
    expect(comingBack).toEqual([undefined, undefined, undefined]);
  });

  it('says to close once, at the refusal that reaches the threshold, though a token came back in between', () => {
    // Prepare
    const limiter = new ConnectionFrameLimiter({ ratePerSecond: 4, burst: 2, closeAfterRefused: 3 });
    limiter.take('c', 0);
    limiter.take('c', 0);

    // Act
    const flood = [limiter.take('c', 0), limiter.take('c', 0)];
    const admittedInBetween = limiter.take('c', 250);
    const after = [limiter.take('c', 250), limiter.take('c', 250), limiter.take('c', 250)];

    // Assess
    expect(flood.map((refusal) => refusal?.close)).toEqual([false, false]);
    expect(admittedInBetween).toBeUndefined();
    expect(after.map((refusal) => refusal?.close)).toEqual([true, false, false]);
    expect(after.map((refusal) => refusal?.refused)).toEqual([3, 4, 5]);
  });

  it('forgets the refusals of a connection once its bucket is full again', () => {
    // Prepare: two refusals, then a quiet second refills the bucket.
    const limiter = new ConnectionFrameLimiter({ ratePerSecond: 4, burst: 2, closeAfterRefused: 3 });
    for (let n = 0; n < 4; n++) limiter.take('c', 0);

    // Act
    const later = Array.from({ length: 4 }, () => limiter.take('c', 1_000));

    // Assess
    expect(later.map((refusal) => refusal?.refused)).toEqual([undefined, undefined, 1, 2]);
    expect(later.some((refusal) => refusal?.close)).toBe(false);
  });

  it('never closes a client that resends each refused frame after the retryAfterMs it was told', () => {
    // Prepare: 350 frames beyond the burst in flight at once, each resent 5 ms after the time it was told.
    const limiter = new ConnectionFrameLimiter(CONNECTION_FRAME_RATE);
    const inFlight = LIMITS.connectionFrameBurst + 350;
    const queue = Array.from({ length: inFlight }, (_, frame) => ({ frame, at: 0 }));
    const refusals = new Array<number>(inFlight).fill(0);
    let closed = false;

    // Act
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const refusal = limiter.take('c', next.at);
      if (refusal === undefined) continue;
      closed ||= refusal.close;
      refusals[next.frame] = (refusals[next.frame] ?? 0) + 1;
      queue.push({ frame: next.frame, at: next.at + refusal.retryAfterMs + 5 });
      queue.sort((a, b) => a.at - b.at);
    }

    // Assess
    expect(closed).toBe(false);
    expect(Math.max(...refusals)).toBe(1);
  });

  it('forgets the least recently seen connection past its size, so its memory stays bounded', () => {
    // Prepare
    const limiter = new ConnectionFrameLimiter({ ratePerSecond: 1, burst: 1, maxConnections: 2 });
    limiter.take('a', 0);
    limiter.take('b', 0);

    // Act
    limiter.take('c', 0);
    const forgotten = limiter.take('a', 0);
    const remembered = limiter.take('c', 0);

    // Assess
    expect(forgotten).toBeUndefined();
    expect(remembered?.retryAfterMs).toBe(1_000);
  });
});
