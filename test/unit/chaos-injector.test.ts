import { describe, expect, it } from 'vitest';
import type { Freezer } from '../../chaos/guardian';
import { type FaultTargets, runFault } from '../../chaos/injector';
import { createRandom } from '../../chaos/prng';
import type { LocalRuntime } from '../../local/runtime';

/** Targets whose runtime only takes fault rules, with a dead-letter queue holding `letters`. */
function targets(
  letters: number,
  redrive: () => Promise<number>,
): { targets: FaultTargets; rules: unknown[] } {
  const rules: unknown[] = [];
  const runtime = {
    faults: {
      inject: (rule: unknown) => {
        rules.push(rule);
        return { fired: 3, remove: () => rules.splice(rules.indexOf(rule), 1) };
      },
    },
  } as unknown as LocalRuntime;
  return {
    rules,
    targets: {
      runtime,
      freezer: {} as Freezer,
      senders: [],
      subscribers: [],
      management: {} as FaultTargets['management'],
      random: createRandom(1),
      deadLetters: async () => letters,
      redrive,
    },
  };
}

describe('a chaos fault', () => {
  it('fails the fan-out’s posts until its end, removes its rule, then redrives the dead letters under load', async () => {
    // Prepare
    const { targets: t, rules } = targets(2, async () => 2);

    // Act
    const fault = await runFault({ kind: 'fanout-failing', startMs: 0, endMs: 50 }, t, Date.now());

    // Assess
    expect(rules).toEqual([]);
    expect(fault.effect).toBe('fired 3; redrove 2 dead letters under load');
  });

  it('goes on when a redrive under load meets an injected fault, leaving the letters for the next', async () => {
    // Prepare
    const { targets: t } = targets(1, () => Promise.reject(new Error('InternalError from SQS')));

    // Act
    const fault = await runFault(
      { kind: 'server-error', service: 'sqs', times: 3, startMs: 0, endMs: 50 },
      t,
      Date.now(),
    );

    // Assess
    expect(fault.effect).toBe(
      'fired 3; a redrive under load failed (InternalError from SQS); its letters wait for the next',
    );
  });
});
