/**
 * What a run prints: the seed and the command that replays it, each fault with its start, end and the
 * recovery after it, the counts, the first violations in detail, and one verdict line that a test or a
 * script can read (`chaos PASS …` or `chaos FAIL …`).
 */
import { type ChaosArgs, replayCommand } from './args';
import type { InjectedFault } from './injector';
import type { Violation } from './invariants';
import type { Arrival } from './subscriber';

/** The violations printed in detail; the verdict counts them all. */
export const VIOLATIONS_SHOWN = 20;

export interface RunSummary {
  args: ChaosArgs;
  /** When the workload started (epoch ms): fault times are printed from here. */
  t0: number;
  faults: InjectedFault[];
  conversationIds: readonly string[];
  /** Every message push the raw subscribers received. */
  arrivals: readonly Arrival[];
  counts: Record<string, number | string>;
  violations: Violation[];
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Per conversation, the time from `endedAt` to the first message pushed to any raw subscriber after it:
 * how long the conversation stayed silent once the fault was over.
 */
export function recoveryAfter(
  endedAt: number,
  conversationIds: readonly string[],
  arrivals: readonly Arrival[],
): (number | undefined)[] {
  return conversationIds.map((conversationId) => {
    let first: number | undefined;
    for (const arrival of arrivals) {
      if (
        arrival.conversationId === conversationId &&
        arrival.at >= endedAt &&
        (first === undefined || arrival.at < first)
      ) {
        first = arrival.at;
      }
    }
    return first === undefined ? undefined : first - endedAt;
  });
}

/** The report's lines, the verdict last. */
export function formatReport(run: RunSummary): string[] {
  const lines = [
    `chaos: seed ${run.args.seed}, ${run.args.seconds} s of workload; replay: ${replayCommand(run.args)}`,
    'faults:',
  ];
  let slowest = 0;
  for (const fault of run.faults) {
    const recovery = recoveryAfter(fault.endedAt, run.conversationIds, run.arrivals);
    slowest = Math.max(slowest, ...recovery.map((ms) => ms ?? 0));
    const recovered = recovery
      .map((ms, i) => `${String.fromCharCode(65 + i)} ${ms === undefined ? 'none' : seconds(ms)}`)
      .join(', ');
    lines.push(
      `  ${seconds(fault.startedAt - run.t0).padStart(7)} → ${seconds(fault.endedAt - run.t0).padEnd(7)} ${fault.label}: ${fault.effect}; next delivery ${recovered}`,
    );
  }
  if (run.faults.length === 0) lines.push('  none');
  lines.push(
    `counts: ${Object.entries(run.counts)
      .map(([name, value]) => `${name} ${value}`)
      .join(', ')}`,
  );
  for (const violation of run.violations.slice(0, VIOLATIONS_SHOWN))
    lines.push(`violation: ${violation.invariant}: ${violation.detail}`);
  if (run.violations.length > VIOLATIONS_SHOWN)
    lines.push(`… and ${run.violations.length - VIOLATIONS_SHOWN} more violations`);
  const verdict = run.violations.length === 0 ? 'PASS' : 'FAIL';
  const failed = [...new Set(run.violations.map((v) => v.invariant))];
  lines.push(
    `chaos ${verdict} seed=${run.args.seed} seconds=${run.args.seconds} acked=${run.counts.acked} faults=${run.faults.length} ` +
      `slowest-recovery=${seconds(slowest)} violations=${run.violations.length}` +
      (failed.length > 0 ? ` (${failed.join('; ')})` : ''),
  );
  return lines;
}
