import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AdmissionGate } from '../../shared/admission';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('AdmissionGate', () => {
  it('admits up to maxInFlight at once and the next waiter, in arrival order, as soon as a place is given back', async () => {
    // Prepare
    const gate = new AdmissionGate({ maxInFlight: 2 });
    const first = await gate.enter(1_000);
    await gate.enter(1_000);
    const order: string[] = [];
    const third = gate.enter(1_000).then(() => order.push('third'));
    void gate.enter(1_000).then(() => order.push('fourth'));

    // Act
    first();
    first();
    await third;

    // Assess: giving a place back twice frees it once, so the fourth still waits.
    expect(order).toEqual(['third']);
    expect(gate.load()).toEqual({ inFlight: 2, waiting: 1 });
  });

  it.each([
    [0.5, 1_050],
    [0.25, 525],
  ])(
    'refuses a waiter with busy and retryAfterMs = random (%s) × the time the queue ahead needs to drain',
    async (random, retryAfterMs) => {
      // Prepare: one place, held; 20 patient waiters; a place is held 100 ms on average so far.
      const gate = new AdmissionGate({ maxInFlight: 1, random: () => random });
      await gate.enter(1_000);
      for (let i = 0; i < 20; i++) void gate.enter(60_000).catch(() => undefined);

      // Act
      const impatient = gate.enter(2_500);
      const refused = expect(impatient).rejects.toMatchObject({
        code: 'busy',
        retryable: true,
        retryAfterMs,
      });
      await vi.advanceTimersByTimeAsync(2_500);

      // Assess: (20 waiting + 1 in flight) × 100 ms / 1 place = 2,100 ms to drain.
      await refused;
      expect(gate.load()).toEqual({ inFlight: 1, waiting: 20 });
    },
  );

  it('refuses at once, without queueing, when there is no time to wait', async () => {
    // Prepare
    const gate = new AdmissionGate({ maxInFlight: 1 });
    await gate.enter(1_000);

    // Act
    const attempt = gate.enter(0);

    // Assess
    await expect(attempt).rejects.toMatchObject({ code: 'busy' });
    expect(gate.load()).toEqual({ inFlight: 1, waiting: 0 });
  });
});
