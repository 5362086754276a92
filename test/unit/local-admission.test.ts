/** The local runtime's admission control (local/admission.ts) and the bench's flags for it. */
import { describe, expect, it } from 'vitest';
import { subscribeOptions } from '../../bench/subscribe';
import { Admission, AdmissionAbandonedError, parseConcurrency } from '../../local/admission';
import { deferred } from '../support/deferred';

describe('Admission', () => {
  it('runs at most its limit at once and lets the others in, in arrival order', async () => {
    // Prepare
    const admission = new Admission('fn', 2);
    const gates = Array.from({ length: 5 }, () => deferred<void>());
    const started: number[] = [];
    let running = 0;
    let most = 0;

    // Act
    const runs = gates.map((gate, i) =>
      admission.run(async () => {
        started.push(i);
        most = Math.max(most, ++running);
        await gate.promise;
        running--;
      }),
    );
    await expect.poll(() => started).toEqual([0, 1]);
    expect(admission.queued).toBe(3);
    for (const gate of [gates[1], gates[0], gates[2], gates[3], gates[4]]) gate?.resolve();
    await Promise.all(runs);

    // Assess
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
    expect(admission.queued).toBe(0);
  });

  it('takes a waiting run out of the line when its signal aborts, and never runs it', async () => {
    // Prepare
    const admission = new Admission('fn', 1);
    const gate = deferred<void>();
    const first = admission.run(() => gate.promise);
    const giveUp = new AbortController();
    let ran = false;

    // Act
    const abandoned = admission.run(async () => {
      ran = true;
    }, giveUp.signal);
    giveUp.abort();

    // Assess
    await expect(abandoned).rejects.toBeInstanceOf(AdmissionAbandonedError);
    expect(admission.queued).toBe(0);
    gate.resolve();
    await first;
    await admission.run(async () => undefined);
    expect(ran).toBe(false);
  });

  it('refuses a limit below 1', () => {
    expect(() => new Admission('fn', 0)).toThrow(/at least 1/);
  });
});

describe('the concurrency and subscribe flags', () => {
  it('reads a whole number or off, and refuses anything else', () => {
    expect(parseConcurrency('8')).toBe(8);
    expect(parseConcurrency('off')).toBe(Number.POSITIVE_INFINITY);
    for (const bad of ['0', '2.5', 'many', undefined])
      expect(() => parseConcurrency(bad)).toThrow(/whole number/);
  });

  it('takes --all-at-once out of the bench arguments', () => {
    expect(subscribeOptions(['subscribe', '--all-at-once'])).toEqual({
      options: { allAtOnce: true },
      rest: ['subscribe'],
    });
    expect(subscribeOptions(['subscribe']).options.allAtOnce).toBe(false);
  });
});
