/**
 * Frozen processes are always resumed. The run freezes DynamoDB Local and the queue emulator with SIGSTOP;
 * if the run then ended before its SIGCONT (a crash, Ctrl-C, SIGKILL), they would stay frozen, holding their
 * ports, and DynamoDB Local could not even see its stdin close to end itself. So the run starts a small
 * guardian first: a detached child (a terminal's Ctrl-C does not reach it) that SIGCONTs every process it
 * guards as soon as its pipe from the run closes, which happens however the run ends, even by SIGKILL.
 * The run's own exit and signal handlers resume them too, for the cases where it still can.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

/**
 * The guardian: it ignores the signals a terminal sends, waits for its stdin to end, then resumes the
 * pids it was given and exits; it prints `guarding` once its handlers are in place. Plain JavaScript for `node -e`, so it needs no loader and starts at once.
 */
export const GUARDIAN_SCRIPT = `
const pids = process.argv.slice(1).map(Number);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
const resume = () => {
  for (const pid of pids) { try { process.kill(pid, 'SIGCONT'); } catch {} }
  process.exit(0);
};
process.stdin.on('end', resume);
process.stdin.on('close', resume);
process.stdin.on('error', resume);
process.stdin.resume();
console.log('guarding');
`;

export interface Freezer {
  /** SIGSTOPs `pid` (one the guardian guards). */
  freeze(pid: number): void;
  /** SIGCONTs `pid`; harmless when it is not frozen. */
  resume(pid: number): void;
  /** Resumes every frozen process now (synchronous, so an 'exit' handler may call it). */
  resumeAll(): void;
  /** Whether `pid` is frozen by this run. */
  isFrozen(pid: number): boolean;
  /** Resumes everything, then ends the guardian. */
  release(): void;
  /** The guardian's pid, for tests. */
  readonly guardianPid: number | undefined;
}

/**
 * Starts the guardian for `pids` (only these may be frozen) and hooks the run's exit and signals.
 * @param spawnGuardian starts the guardian; tests pass the default.
 */
export function startFreezer(
  pids: readonly number[],
  spawnGuardian: (pids: readonly number[]) => ChildProcess = (guarded) =>
    spawn(process.execPath, ['-e', GUARDIAN_SCRIPT, ...guarded.map(String)], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    }),
): Freezer {
  const guardian = spawnGuardian(pids);
  // The run must not wait for its guardian to end: the pipe stays open, unreferenced, until release().
  guardian.unref();
  const pipe = guardian.stdin as (Writable & { unref?: () => void }) | null;
  pipe?.unref?.();
  const frozen = new Set<number>();
  const signal = (pid: number, name: 'SIGSTOP' | 'SIGCONT'): void => {
    try {
      process.kill(pid, name);
    } catch {
      // The process has already ended: nothing to freeze or resume.
    }
  };
  const resumeAll = (): void => {
    for (const pid of frozen) signal(pid, 'SIGCONT');
    frozen.clear();
  };
  process.on('exit', resumeAll);
  let released = false;
  return {
    freeze(pid) {
      if (!pids.includes(pid)) throw new Error(`Process ${pid} is not guarded, so it may not be frozen`);
      // After release no guardian watches any more: a fault still pending at the run's end may not freeze.
      if (released) throw new Error(`The guardian was released, so process ${pid} may not be frozen`);
      frozen.add(pid);
      signal(pid, 'SIGSTOP');
    },
    resume(pid) {
      frozen.delete(pid);
      signal(pid, 'SIGCONT');
    },
    resumeAll,
    isFrozen: (pid) => frozen.has(pid),
    release() {
      released = true;
      resumeAll();
      process.off('exit', resumeAll);
      pipe?.end();
    },
    guardianPid: guardian.pid,
  };
}
