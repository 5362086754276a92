import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { GUARDIAN_SCRIPT, startFreezer } from '../../chaos/guardian';

/** A process's state letter from /proc (`T`: stopped), or `gone`. */
function state(pid: number | undefined): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return 'gone';
  }
}

const started: ChildProcess[] = [];
function sleeper(): number {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  started.push(child);
  if (child.pid === undefined) throw new Error('sleep did not start');
  return child.pid;
}

afterEach(() => {
  for (const child of started.splice(0)) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
});

describe('the chaos run’s guardian', () => {
  it('resumes a frozen process when its pipe from the run closes, after ignoring a Ctrl-C', async () => {
    // Prepare
    const frozen = sleeper();
    const guardian = spawn(process.execPath, ['-e', GUARDIAN_SCRIPT, String(frozen)], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    started.push(guardian);
    const guarding = new Promise((resolve) => guardian.stdout?.once('data', resolve));
    process.kill(frozen, 'SIGSTOP');
    await expect.poll(() => state(frozen)).toBe('T');
    // Its handlers are in place once it says so; a SIGINT before that would end it.
    await guarding;

    // Act: a terminal's Ctrl-C, then the run dies (its end of the pipe closes).
    guardian.kill('SIGINT');
    guardian.stdin?.destroy();

    // Assess
    await expect.poll(() => state(frozen), { timeout: 10_000 }).not.toBe('T');
    await expect.poll(() => state(guardian.pid), { timeout: 10_000 }).toMatch(/gone|Z/);
  });

  it('freezes only the processes it guards, and resumes them all at once', async () => {
    // Prepare
    const [first, second] = [sleeper(), sleeper()];
    const freezer = startFreezer([first, second]);

    // Act
    freezer.freeze(first);
    freezer.freeze(second);
    await expect.poll(() => [state(first), state(second)]).toEqual(['T', 'T']);
    freezer.resumeAll();

    // Assess
    await expect.poll(() => [state(first), state(second)]).toEqual(['S', 'S']);
    expect(() => freezer.freeze(process.pid)).toThrow(/not guarded/);
    freezer.release();
    await expect.poll(() => state(freezer.guardianPid), { timeout: 10_000 }).toMatch(/gone|Z/);
    // A fault still pending when the run ends must not freeze what no guardian watches any more.
    expect(() => freezer.freeze(first)).toThrow(/released/);
    expect(state(first)).not.toBe('T');
  });
});
