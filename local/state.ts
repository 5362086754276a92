/** Where a running `npm start` writes its addresses, so `npm run token` and `npm run redrive` find it. */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** RUNTIME_STATE_FILE moves it, so a test can run its own `npm start` beside a developer's. */
export const stateFile = (): string =>
  process.env.RUNTIME_STATE_FILE ?? path.join(__dirname, '..', '.local', 'runtime.json');

export interface RuntimeState {
  pid: number;
  webSocketUrl: string;
  managementEndpoint: string;
  controlUrl: string;
}

export function writeState(state: RuntimeState): void {
  mkdirSync(path.dirname(stateFile()), { recursive: true });
  writeFileSync(stateFile(), `${JSON.stringify(state, null, 2)}\n`);
}

export function clearState(): void {
  rmSync(stateFile(), { force: true });
}

const NOT_RUNNING =
  'The local runtime is not running: start it with `npm start` (it holds its terminal; run this in a second one)';

/** True when a process with this id exists (signal 0 only asks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The state of a runtime that is still running, or undefined (a file left by a dead one is removed). */
export function runningState(): RuntimeState | undefined {
  if (!existsSync(stateFile())) return undefined;
  const state = JSON.parse(readFileSync(stateFile(), 'utf8')) as RuntimeState;
  if (alive(state.pid)) return state;
  clearState();
  return undefined;
}

/** Reads the state of the running local runtime, or explains how to start one. */
export function readState(): RuntimeState {
  const state = runningState();
  if (state === undefined) throw new Error(NOT_RUNNING);
  return state;
}
