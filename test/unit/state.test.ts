import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readState, stateFile, writeState } from '../../local/state';

beforeEach(() => {
  vi.stubEnv('RUNTIME_STATE_FILE', path.join(mkdtempSync(path.join(tmpdir(), 'state-')), 'runtime.json'));
});

const state = (pid: number) => ({
  pid,
  webSocketUrl: 'ws://127.0.0.1:1/local',
  managementEndpoint: 'http://127.0.0.1:1/local',
  controlUrl: 'http://127.0.0.1:2',
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('the local runtime state file', () => {
  it('is read back while the runtime that wrote it is alive', () => {
    // Prepare
    writeState(state(process.pid));

    // Act
    const read = readState();

    // Assess
    expect(read.controlUrl).toBe('http://127.0.0.1:2');
  });

  it('is removed, with a message saying how to start the runtime, when its process is gone', () => {
    // Prepare: the pid of a process that has exited.
    const { pid } = spawnSync(process.execPath, ['-e', '0']);
    writeState(state(pid ?? 0));

    // Act
    const read = () => readState();

    // Assess
    expect(read).toThrow('The local runtime is not running: start it with `npm start`');
    expect(existsSync(stateFile())).toBe(false);
  });
});
