import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

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

/** PIDs of DynamoDB Local processes listening on `port` (the port makes them ours). */
function javaOnPort(port: number): number[] {
  try {
    return execFileSync('pgrep', ['-f', `DynamoDBLocal.jar.*-port ${port}`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

let child: ChildProcess | undefined;

afterAll(() => {
  child?.kill('SIGKILL');
});

describe('npm start', () => {
  it('prints the ws:// URL and how to get a token, then stops everything on Ctrl-C', async () => {
    // Prepare
    const [ws, control, dynamodb, sqs] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    let output = '';
    child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        WS_PORT: String(ws),
        CONTROL_PORT: String(control),
        DYNAMODB_PORT: String(dynamodb),
        SQS_PORT: String(sqs),
        RUNTIME_STATE_FILE: path.join(ROOT, '.local', `runtime-${ws}.json`),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    await expect.poll(() => output, { timeout: 30_000, interval: 100 }).toContain('ready in');
    const javaWhileRunning = javaOnPort(dynamodb);
    // Act
    child.kill('SIGINT');
    const code = await exited;
    // Assess
    expect(output).toContain(`ws://127.0.0.1:${ws}/local?token=<JWT>`);
    expect(output).toContain(`http://127.0.0.1:${control}/token?user=alice`);
    expect(javaWhileRunning).toHaveLength(1);
    expect(code).toBe(0);
    expect(output).toContain('Stopped cleanly.');
    expect(javaOnPort(dynamodb)).toEqual([]);
  }, 60_000);
});
