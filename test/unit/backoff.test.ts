import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from '../../shared/backoff';

describe('fullJitterDelay', () => {
  const policy = { baseDelayMs: 10, maxDelayMs: 200 };

  it('draws below a ceiling that doubles per failed attempt', () => {
    const nearlyOne = () => 0.999_999;

    expect([1, 2, 3, 4, 5].map((attempt) => fullJitterDelay(attempt, nearlyOne, policy))).toEqual([
      9, 19, 39, 79, 159,
    ]);
  });

  it('never exceeds maxDelayMs and reaches zero when the draw is zero', () => {
    expect(fullJitterDelay(30, () => 0.999_999, policy)).toBe(199);
    expect(fullJitterDelay(30, () => 0, policy)).toBe(0);
  });
});
