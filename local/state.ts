/** Where a running `npm start` writes its addresses, so `npm run token` and `npm run redrive` find it. */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** RUNTIME_STATE_FILE moves it, so a test can run its own `npm start` beside a developer's. */
export const STATE_FILE =
  process.env.RUNTIME_STATE_FILE ?? path.join(__dirname, '..', '.local', 'runtime.json');

export interface RuntimeState {
  pid: number;
  webSocketUrl: string;
  managementEndpoint: string;
  controlUrl: string;
}

export function writeState(state: RuntimeState): void {
  mkdirSync(path.dirname(STATE_FILE), { recursive: true });
  writeFileSync(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
}

export function clearState(): void {
  rmSync(STATE_FILE, { force: true });
}

/** Reads the state of the running local runtime, or explains how to start one. */
export function readState(): RuntimeState {
  if (!existsSync(STATE_FILE)) throw new Error('The local runtime is not running: start it with `npm start`');
  return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as RuntimeState;
}
