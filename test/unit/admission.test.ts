import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AdmissionGate } from '../../shared/admission';
import { BusyError } from '../../shared/errors';

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

  it('refuses a waiter with busy and a spread-out retryAfterMs when no place comes free in time', async () => {
    // Prepare
    const gate = new AdmissionGate({ maxInFlight: 1, random: () => 0.5, now: () => Date.now() });
    await gate.enter(1_000);

    // Act
    const waiting = gate.enter(2_500);
    const refused = expect(waiting).rejects.toBeInstanceOf(BusyError);
    await vi.advanceTimersByTimeAsync(2_500);

    // Assess
    await refused;
    await waiting.catch((err: BusyError) => {
      expect(err.retryable).toBe(true);
      expect(err.retryAfterMs).toBeGreaterThanOrEqual(250);
      expect(err.retryAfterMs).toBeLessThanOrEqual(10_000);
    });
    expect(gate.load()).toEqual({ inFlight: 1, waiting: 0 });
  });

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
