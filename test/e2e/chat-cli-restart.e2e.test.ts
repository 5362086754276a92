/**
 * The terminal client across a restart of `npm start`: the new runtime has none of the old one's
 * conversations, so the client must say so in words and mark what it could not send, not exit on a code.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { uniqueUser } from '../support/chat';
import { ChatCli, killChatClisAfterEach } from './chat-cli-process';

// A restart is a new process: the handlers' modules (and their clients) start afresh, as for a user.
killChatClisAfterEach();
const ROOT = path.join(__dirname, '..', '..');
const stateDir = mkdtempSync(path.join(tmpdir(), 'runtime-state-'));
const stateFile = path.join(stateDir, 'runtime.json');
let server: ChildProcess | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** `npm start` on these ports (the others free ones), resolved once it is ready. */
async function startServer(ports: { ws: number; control: number }): Promise<ChildProcess> {
  let output = '';
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    detached: true, // its own process group, which a Ctrl-C stops as a whole
    env: {
      ...process.env,
      WS_PORT: String(ports.ws),
      CONTROL_PORT: String(ports.control),
      DYNAMODB_PORT: '0',
      SQS_PORT: '0',
      RUNTIME_STATE_FILE: stateFile,
      LOG_LEVEL: 'ERROR',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  await expect.poll(() => output, { timeout: 60_000, interval: 100 }).toContain('ready in');
  return child;
}

/** Stops `npm start` as Ctrl-C does, and waits for it to be gone. */
async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  if (child.pid !== undefined) process.kill(-child.pid, 'SIGINT');
  await exited;
}

afterAll(() => {
  if (server?.pid !== undefined && server.exitCode === null && server.signalCode === null)
    process.kill(-server.pid, 'SIGINT');
  rmSync(stateDir, { recursive: true, force: true });
});

describe('npm run chat across a restart of the local runtime', () => {
  it('says the conversation does not exist or is not theirs, marks the line typed meanwhile ✗, and exits 1', async () => {
    // Prepare: alice chats in a conversation of the first run.
    const ports = { ws: await freePort(), control: await freePort() };
    const first = await startServer(ports);
    const alice = uniqueUser('alice');
    const cli = new ChatCli(['--user', alice, '--to', uniqueUser('bob')], { RUNTIME_STATE_FILE: stateFile });
    cli.type('before the restart');
    await expect
      .poll(() => cli.stdout, { timeout: 60_000, interval: 200 })
      .toContain('✓ sent (#1): before the restart');

    // Act: the server stops, alice types a line, and a fresh runtime starts on the same ports.
    await stopServer(first);
    await expect
      .poll(() => cli.stderr, { timeout: 30_000, interval: 200 })
      .toMatch(/reconnecting in \d+\.\d s/);
    cli.type('typed while the server was down');
    await startServer(ports);

    // Assess: the line is marked ✗ with the reason in words, and the client says what to do next.
    expect(await cli.exited).toBe(1);
    expect(cli.stdout).toMatch(
      /^✗ not sent \(This conversation does not exist or you are not in it\): typed while the server was down$/m,
    );
    expect(cli.stderr).toContain('This conversation does not exist or you are not in it.');
    expect(cli.stderr).toContain('1 message(s) not sent: they are marked ✗ above, to copy.');
    expect(cli.stderr).toContain(`Next: npm run chat -- --user ${alice} --to <members> starts another`);
    expect(`${cli.stdout}${cli.stderr}`).not.toContain('forbidden');
  }, 240_000);
});
