import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { javaOnPort } from '../support/java-on-port';

const ROOT = path.join(__dirname, '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

// `npm start` itself is the subject here: it runs in a child process, so the in-process runtime fixture
// (test/support/local-runtime.ts) would test something else.
let child: ChildProcess | undefined;

afterAll(() => {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  process.kill(-child.pid, 'SIGKILL');
});

describe('npm start', () => {
  it('prints the ws:// URL and how to get a token, then stops everything on a terminal Ctrl-C', async () => {
    // Prepare: `npm start` as a terminal runs it, in a process group of its own (npm → sh → tsx → node).
    const [ws, control, dynamodb, sqs] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const stateFile = path.join(ROOT, '.local', `runtime-${ws}.json`);
    let output = '';
    child = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      detached: true,
      env: {
        ...process.env,
        WS_PORT: String(ws),
        CONTROL_PORT: String(control),
        DYNAMODB_PORT: String(dynamodb),
        SQS_PORT: String(sqs),
        RUNTIME_STATE_FILE: stateFile,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child?.once('exit', (code, signal) => resolve({ code, signal })),
    );
    await expect.poll(() => output, { timeout: 45_000, interval: 100 }).toContain('ready in');
    const javaWhileRunning = javaOnPort(dynamodb);
    const stateWhileRunning = existsSync(stateFile);
    const socket = await openSocket(
      `ws://127.0.0.1:${ws}/local?token=${await tokenFrom(control, 'ctrl-c-user')}`,
    );
    const closeCode = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    // The README's second-terminal step, scripted: frames piped into `npm run ws`.
    const script = await runWs(stateFile, 'newcomer', [
      '{"action":"createConversation","members":["friend"],"requestId":"c1"}',
    ]);

    // Act: Ctrl-C in a terminal signals the whole foreground process group.
    process.kill(-(child.pid ?? 0), 'SIGINT');
    const exit = await exited;

    // Assess
    expect(output).toContain(
      `  Ports        ${ws} WebSocket (WS_PORT), ${control} web page and control plane (CONTROL_PORT), ` +
        `${dynamodb} DynamoDB Local (DYNAMODB_PORT),\n               ${sqs} SQS and S3 (SQS_PORT), `,
    );
    expect(output).toContain(`ws://127.0.0.1:${ws}/local?token=<JWT>`);
    expect(output).toContain(`http://127.0.0.1:${control}/token?user=alice`);
    expect(output).toContain(`Web chat     http://127.0.0.1:${control}/`);
    expect(output).toContain('npm run chat -- --user alice --to bob');
    expect(script.code).toBe(0);
    expect(JSON.parse(script.stdout.trim())).toMatchObject({
      type: 'ack',
      requestId: 'c1',
      // friend shares no group with newcomer: invited by default, not added.
      conversation: { members: ['newcomer'], invited: ['friend'] },
    });
    expect(javaWhileRunning).toHaveLength(1);
    expect(stateWhileRunning).toBe(true);
    expect(output).not.toContain('Forced exit');
    expect(output).toContain('Stopped cleanly.');
    // The open socket's $disconnect ran before DynamoDB Local stopped, and could write to it.
    expect(output).toMatch(/DISCONNECT \S+ 1001 [^\n]*\$disconnect → 200/);
    expect(output).not.toContain('$disconnect failed');
    expect(await closeCode).toBe(1001);
    // npm itself ends by re-raising the terminal's SIGINT once its script has exited (the shell shows 130).
    expect([0, 'SIGINT']).toContain(exit.code ?? exit.signal);
    expect(existsSync(stateFile)).toBe(false);
    expect(javaOnPort(dynamodb)).toEqual([]);
  }, 90_000);
});

describe('npm start on a port in use', () => {
  it('names the one process holding the port (pid and command line) and starts nothing', async () => {
    // Prepare: another process listens on the port npm start wants for DynamoDB Local.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const address = holder.address();
    const taken = typeof address === 'object' && address ? address.port : 0;
    const [ws, control, sqs] = await Promise.all([freePort(), freePort(), freePort()]);

    // Act
    const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const start = spawn('npm', ['start', '--silent'], {
        cwd: ROOT,
        env: {
          ...process.env,
          WS_PORT: String(ws),
          CONTROL_PORT: String(control),
          DYNAMODB_PORT: String(taken),
          SQS_PORT: String(sqs),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      start.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      start.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      start.once('exit', (code) => resolve({ code, output }));
    }).finally(() => new Promise((resolve) => holder.close(resolve)));

    // Assess: this test's own process holds the port.
    expect(result.code).toBe(1);
    expect(result.output).toContain(`Port ${taken} (DYNAMODB_PORT) is in use by pid ${process.pid}: `);
    expect(result.output).toContain(`stop that one process (kill ${process.pid})`);
    expect(result.output).not.toMatch(/pkill|killall/);
    expect(javaOnPort(taken)).toEqual([]);
  }, 60_000);
});

/** Runs `npm run ws -- <user>` with `lines` piped to its stdin, as a script in a second terminal would. */
function runWs(
  stateFile: string,
  user: string,
  lines: string[],
): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const ws = spawn('npm', ['run', '-s', 'ws', '--', user], {
      cwd: ROOT,
      env: { ...process.env, RUNTIME_STATE_FILE: stateFile },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let stdout = '';
    ws.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    ws.once('exit', (code) => resolve({ code, stdout }));
    ws.stdin.end(`${lines.join('\n')}\n`);
  });
}

async function tokenFrom(controlPort: number, user: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${controlPort}/token?user=${user}`);
  const { token } = (await response.json()) as { token: string };
  return token;
}

function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}
