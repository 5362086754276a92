/**
 * `npm run chaos`'s 30 s form, as a command: a child process with its own local runtime and DynamoDB Local
 * (it freezes them, so it shares nothing with the other files), a fixed seed, exit 0 and the PASS verdict.
 * That the verdict fails when an invariant breaks is shown on doctored observations in
 * test/unit/chaos-invariants.test.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..', '..');
/** A seed whose 30 s plan freezes DynamoDB Local and the queues, crashes a send after its seq, and fails the fan-out until records reach the dead-letter queue. */
const SEED = 39;

let child: ChildProcess | undefined;

afterAll(() => {
  // A run that outlived its test ends as Ctrl-C ends it: it resumes what it froze and stops its runtime.
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    process.kill(-child.pid, 'SIGTERM');
  }
});

describe('npm run chaos', () => {
  it('passes the 30 s form for a fixed seed: nothing acked lost or doubled, every transcript equal to history', async () => {
    // Act
    let output = '';
    child = spawn('npx', ['tsx', 'chaos/main.ts', '--seconds', '30', '--seed', String(SEED)], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child?.once('exit', resolve));

    // Assess
    expect(code, output).toBe(0);
    expect(output).toMatch(new RegExp(`^chaos PASS seed=${SEED} seconds=30 `, 'm'));
    expect(output).toMatch(/^faults:\n {2}.+\n/m);
    // Seed 39's plan crashes sends, fails the fan-out until records are dead-lettered and fails SQS calls:
    // each must have taken effect, or the PASS says nothing about them.
    expect(output).toMatch(/crash at send:[a-z-]+ \(up to \d\): fired [1-9]/);
    // Its dead letters are redriven under load when they arrive in time, else by the end's redrive.
    expect(output).toMatch(/redrove [1-9]\d* dead letters|redriven at the end [1-9]/);
    expect(output).not.toMatch(/fired 0\b/);
  }, 120_000);
});
