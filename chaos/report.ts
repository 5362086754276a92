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

/** Faults that end within this of each other end together (two cut at the window's end, say): each has its own recovery. */
const SAME_END_MS = 250;

/** A fault's recovery: per conversation, ms to the next delivery, or why there is no number. */
export type Recovery = { kind: 'measured'; ms: (number | 'none')[] } | { kind: 'overlapped'; by: string };

/**
 * Per conversation, the time from the fault's end to the first message pushed to any raw subscriber after
 * it: how long the conversation stayed silent once the fault was over. A fault that another one outlasts
 * has no recovery of its own (the other's end is where the silence can end), and a conversation whose next
 * delivery came only after the next fault began is `none`: that silence belongs to the next fault.
 */
export function recoveryOf(
  fault: InjectedFault,
  faults: readonly InjectedFault[],
  conversationIds: readonly string[],
  arrivals: readonly Arrival[],
): Recovery {
  const outlasting = faults.find(
    (f) => f !== fault && f.startedAt <= fault.endedAt && f.endedAt > fault.endedAt + SAME_END_MS,
  );
  if (outlasting !== undefined) return { kind: 'overlapped', by: outlasting.label };
  const nextStart = Math.min(...faults.filter((f) => f.startedAt > fault.endedAt).map((f) => f.startedAt));
  const ms = conversationIds.map((conversationId) => {
    let first = Number.POSITIVE_INFINITY;
    for (const arrival of arrivals) {
      if (arrival.conversationId === conversationId && arrival.at >= fault.endedAt)
        first = Math.min(first, arrival.at);
    }
    return first <= nextStart && Number.isFinite(first) ? first - fault.endedAt : 'none';
  });
  return { kind: 'measured', ms };
}

const describeRecovery = (recovery: Recovery): string =>
  recovery.kind === 'overlapped'
    ? `recovery: after ${recovery.by}, which outlasted it`
    : `next delivery ${recovery.ms
        .map(
          (ms, i) =>
            `${String.fromCharCode(65 + i)} ${ms === 'none' ? 'none before the next fault' : seconds(ms)}`,
        )
        .join(', ')}`;

/** The report's lines, the verdict last. */
export function formatReport(run: RunSummary): string[] {
  const lines = [
    `chaos: seed ${run.args.seed}, ${run.args.seconds} s of workload; replay: ${replayCommand(run.args)}`,
    'faults:',
  ];
  let slowest = 0;
  for (const fault of run.faults) {
    const recovery = recoveryOf(fault, run.faults, run.conversationIds, run.arrivals);
    if (recovery.kind === 'measured') {
      slowest = Math.max(slowest, ...recovery.ms.map((ms) => (ms === 'none' ? 0 : ms)));
    }
    lines.push(
      `  ${seconds(fault.startedAt - run.t0).padStart(7)} → ${seconds(fault.endedAt - run.t0).padEnd(7)} ${fault.label}: ${fault.effect}; ${describeRecovery(recovery)}`,
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
