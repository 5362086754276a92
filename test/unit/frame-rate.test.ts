import { describe, expect, it } from 'vitest';
import { ConnectionFrameLimiter } from '../../shared/frame-rate';

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
    expect(answers).toEqual([undefined, undefined, 250, undefined]);
  });

  it('tells frames refused together to come back one interval apart, and admits each when it does', () => {
    // Prepare
    const limiter = new ConnectionFrameLimiter({ ratePerSecond: 4, burst: 2 });
    limiter.take('c', 0);
    limiter.take('c', 0);

    // Act
    const told = [limiter.take('c', 0), limiter.take('c', 0), limiter.take('c', 0)];
    const comingBack = told.map((waitMs) => limiter.take('c', Number(waitMs)));

    // Assess
    expect(told).toEqual([250, 500, 750]);
    expect(comingBack).toEqual([undefined, undefined, undefined]);
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
    expect(remembered).toBe(1_000);
  });
});
