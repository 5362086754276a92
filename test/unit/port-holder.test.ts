/** Naming the one process that holds a port `npm start` needs, instead of suggesting a broad pkill. */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { portHolder, portInUseMessage } from '../../local/port-holder';

let holder: ChildProcess | undefined;

afterEach(() => {
  holder?.kill('SIGKILL');
  holder = undefined;
});

/** A child process listening on a free loopback port, and that port once it listens. */
async function occupyPort(): Promise<{ pid: number; port: number }> {
  const script =
    "const s=require('node:net').createServer();s.listen(0,'127.0.0.1',()=>console.log(s.address().port))";
  holder = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const child = holder;
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
  });
  return { pid: child.pid ?? 0, port };
}

describe('portHolder', () => {
  it('names the pid, command line and directory of the process listening on a port', async () => {
    // Prepare
    const { pid, port } = await occupyPort();

    // Act
    const found = portHolder(port);

    // Assess
    expect(found).toMatchObject({ pid, cwd: process.cwd() });
    expect(found?.command).toContain('createServer()');
  });

  it('finds no one on a port nobody listens on', async () => {
    // Prepare: a port that was free a moment ago.
    const { port } = await occupyPort();
    holder?.kill('SIGKILL');
    await new Promise((resolve) => holder?.once('exit', resolve));

    // Act and assess
    expect(portHolder(port)).toBeUndefined();
  });
});

describe('portInUseMessage', () => {
  it('names the one process holding the port and how to move away from it, suggesting no pkill', () => {
    // Act
    const message = portInUseMessage('DYNAMODB_PORT', 8001, {
      pid: 4242,
      command: 'java -jar DynamoDBLocal.jar -port 8001',
      cwd: '/home/me/chat',
    });

    // Assess
    expect(message).toBe(
      'Port 8001 (DYNAMODB_PORT) is in use by pid 4242: java -jar DynamoDBLocal.jar -port 8001 (in /home/me/chat). ' +
        'Is another npm start running, or one left from a run that was killed? If it is a leftover, stop that ' +
        'one process (kill 4242), or pick another port, e.g. DYNAMODB_PORT=0 npm start (0 picks a free one).',
    );
    expect(message).not.toMatch(/pkill|killall/);
  });

  it('says how to find the holder when this user cannot see it', () => {
    expect(portInUseMessage('WS_PORT', 3001, undefined)).toContain(
      "in use by a process this user cannot see (ss -ltnp 'sport = :3001' or lsof -i :3001 as root names it)",
    );
  });
});
