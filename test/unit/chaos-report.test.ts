import { describe, expect, it } from 'vitest';
import type { InjectedFault } from '../../chaos/injector';
import { formatReport, type RunSummary, recoveryOf } from '../../chaos/report';

const fault = (label: string, startedAt: number, endedAt: number): InjectedFault => ({
  label,
  kind: 'freeze-dynamodb',
  startedAt,
  endedAt,
  effect: 'pid 1 stopped',
});
const arrival = (conversationId: string, at: number) => ({ conversationId, seq: 1, at });

function summary(overrides: Partial<RunSummary> = {}): RunSummary {
  return {
    args: { seed: 7, seconds: 30 },
    t0: 0,
    faults: [fault('freeze-dynamodb', 2_000, 6_000)],
    conversationIds: ['a', 'b'],
    arrivals: [arrival('a', 6_500), arrival('b', 9_000)],
    counts: { acked: 12 },
    violations: [],
    ...overrides,
  };
}

describe('the chaos report', () => {
  it('measures each conversation’s recovery from the fault’s end to its next delivery', () => {
    const freeze = fault('freeze-dynamodb', 2_000, 6_000);
    const arrivals = [arrival('a', 5_000), arrival('a', 6_400), arrival('b', 8_000)];
    expect(recoveryOf(freeze, [freeze], ['a', 'b'], arrivals)).toEqual({
      kind: 'measured',
      ms: [400, 2_000],
    });
  });

  it('leaves the recovery of a fault another one outlasts to that one, and a silence into the next fault to it', () => {
    // Prepare
    const crash = fault('crash', 2_000, 4_000);
    const freeze = fault('freeze-dynamodb', 3_000, 9_000);
    const storm = fault('resend-storm', 12_000, 14_000);

    // Act
    const faults = [crash, freeze, storm];
    const arrivals = [arrival('a', 9_500), arrival('b', 13_000)];

    // Assess
    expect(recoveryOf(crash, faults, ['a', 'b'], arrivals)).toEqual({
      kind: 'overlapped',
      by: 'freeze-dynamodb',
    });
    expect(recoveryOf(freeze, faults, ['a', 'b'], arrivals)).toEqual({ kind: 'measured', ms: [500, 'none'] });
  });

  it('measures both of two faults that end together', () => {
    const freeze = fault('freeze-dynamodb', 2_000, 6_000);
    const crash = fault('crash', 3_000, 6_100);
    const arrivals = [arrival('a', 7_000), arrival('b', 7_000)];
    expect(recoveryOf(freeze, [freeze, crash], ['a', 'b'], arrivals)).toEqual({
      kind: 'measured',
      ms: [1_000, 1_000],
    });
  });

  it('ends with a PASS verdict naming the seed and the slowest recovery', () => {
    const lines = formatReport(summary());
    expect(lines[0]).toBe('chaos: seed 7, 30 s of workload; replay: npm run chaos -- --seed 7 --seconds 30');
    expect(lines).toContain(
      '    2.0 s → 6.0 s   freeze-dynamodb: pid 1 stopped; next delivery A 0.5 s, B 3.0 s',
    );
    expect(lines.at(-1)).toBe(
      'chaos PASS seed=7 seconds=30 acked=12 faults=1 slowest-recovery=3.0 s violations=0',
    );
  });

  it('ends with a FAIL verdict after the first violations in detail', () => {
    const violations = Array.from({ length: 25 }, (_, i) => ({
      invariant: 'seqs dense',
      detail: `hole ${i}`,
    }));
    const lines = formatReport(summary({ violations }));
    expect(lines.filter((line) => line.startsWith('violation: seqs dense: hole'))).toHaveLength(20);
    expect(lines).toContain('… and 5 more violations');
    expect(lines.at(-1)).toMatch(/^chaos FAIL seed=7 .* violations=25 \(seqs dense\)$/);
  });
});
