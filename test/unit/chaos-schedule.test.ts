import { describe, expect, it } from 'vitest';
import { DEFAULT_SECONDS, parseChaosArgs, replayCommand } from '../../chaos/args';
import { createRandom } from '../../chaos/prng';
import { faultWindowEndMs, type PlannedFault, planFaults } from '../../chaos/schedule';

const plan = (seed: number, seconds: number, queueFreezable = true): PlannedFault[] =>
  planFaults(createRandom(seed), { seconds, queueFreezable });

/** The most faults running at one moment. */
function mostAtOnce(faults: readonly PlannedFault[]): number {
  return Math.max(
    ...faults.map((f) => faults.filter((g) => g.startMs <= f.startMs && f.startMs < g.endMs).length),
  );
}

describe('the chaos run’s fault plan', () => {
  it('is the same for the same seed and differs for another', () => {
    expect(plan(7, 30)).toEqual(plan(7, 30));
    expect(plan(8, 30)).not.toEqual(plan(7, 30));
  });

  it('runs one or two faults at a time, each ending inside the fault window', () => {
    for (const seed of [1, 2, 3, 42, 2026]) {
      for (const seconds of [30, 300]) {
        const faults = plan(seed, seconds);
        expect(faults.length).toBeGreaterThanOrEqual(seconds === 30 ? 3 : 30);
        expect(mostAtOnce(faults)).toBeLessThanOrEqual(2);
        for (const fault of faults) {
          expect(fault.endMs).toBeGreaterThan(fault.startMs);
          expect(fault.endMs).toBeLessThanOrEqual(faultWindowEndMs(seconds));
        }
      }
    }
  });

  it('tries every kind in a long run, freezes of up to 32 s included, and the queue only when it can be frozen', () => {
    const kinds = new Set(plan(1, 300).map((f) => f.kind));
    expect([...kinds].sort()).toEqual([
      'crash',
      'fanout-failing',
      'freeze-dynamodb',
      'freeze-queue',
      'kill-sockets',
      'resend-storm',
      'server-close',
      'server-error',
      'throttle',
    ]);
    expect(plan(1, 300, false).some((f) => f.kind === 'freeze-queue')).toBe(false);
    const freezes = [1, 2, 3].flatMap((seed) => plan(seed, 600)).filter((f) => f.kind === 'freeze-dynamodb');
    expect(Math.max(...freezes.map((f) => f.endMs - f.startMs))).toBeGreaterThan(10_000);
  });
});

describe('the chaos command line', () => {
  it('draws a seed when none is given and runs the long form by default', () => {
    expect(parseChaosArgs([], () => 123)).toEqual({ seed: 123, seconds: DEFAULT_SECONDS });
    expect(parseChaosArgs(['--seed', '42', '--seconds', '30'])).toEqual({ seed: 42, seconds: 30 });
    expect(replayCommand({ seed: 42, seconds: 30 })).toBe('npm run chaos -- --seed 42 --seconds 30');
  });

  it('refuses a bad seed, too short a run and unknown flags, naming the flag', () => {
    expect(() => parseChaosArgs(['--seed', '-1'])).toThrow(/--seed takes a whole number/);
    expect(() => parseChaosArgs(['--seed'])).toThrow(/--seed/);
    expect(() => parseChaosArgs(['--seconds', '5'])).toThrow(/--seconds takes a whole number of at least 20/);
    expect(() => parseChaosArgs(['--fast'])).toThrow(/Unknown option --fast/);
  });
});
