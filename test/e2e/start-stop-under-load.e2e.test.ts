/**
 * `npm start` leaves no process behind, however it ends, even under load: a terminal's Ctrl-C while 40
 * sockets are open and a burst is in flight (its own stop runs: "Stopped cleanly."), the runtime killed
 * outright, or its terminal closed. DynamoDB Local runs in a
 * process group of its own, which no terminal signal reaches, so only the runtime can take it along.
 * Each case then starts `npm start` again on the same ports, as a user would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../local/services';
import { javaOnPort } from '../support/java-on-port';
import { ChatClient } from './chat-client';

const ROOT = path.join(__dirname, '..', '..');
const SOCKETS = 40;
const SENDS_PER_SOCKET = 5;
const stateDir = mkdtempSync(path.join(tmpdir(), 'runtime-state-'));

interface Ports {
  ws: number;
  control: number;
  dynamodb: number;
  sqs: number;
}

interface NpmStart {
  child: ChildProcess;
  output(): string;
  exited: Promise<void>;
}

const started: NpmStart[] = [];
const dynamoDbPorts: number[] = [];
const clients: ChatClient[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.socket.terminate();
  for (const { child } of started.splice(0)) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid, 'SIGKILL');
    }
  }
  // What this file's runs left behind, by pid: a failing case must not hold ports for the next files.
  for (const port of dynamoDbPorts.splice(0))
    for (const pid of javaOnPort(port)) process.kill(pid, 'SIGKILL');
});

afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

async function freePorts(): Promise<Ports> {
  const [ws, control, dynamodb, sqs] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  dynamoDbPorts.push(dynamodb);
  return { ws, control, dynamodb, sqs };
}

/** `npm start` as a terminal runs it, in a process group of its own, resolved once it is ready. */
async function npmStart(ports: Ports, stateFile: string): Promise<NpmStart> {
  let output = '';
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    detached: true,
    env: {
      ...process.env,
      WS_PORT: String(ports.ws),
      CONTROL_PORT: String(ports.control),
      DYNAMODB_PORT: String(ports.dynamodb),
      SQS_PORT: String(ports.sqs),
      RUNTIME_STATE_FILE: stateFile,
      LOG_LEVEL: 'ERROR',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const start = { child, output: () => output, exited };
  started.push(start);
  await expect.poll(() => output, { timeout: 90_000, interval: 200 }).toMatch(/ready in|Error|in use/);
  expect(output).toContain('ready in');
  return start;
}

/** 40 users connected, each in a conversation of its own, then a burst of sends not waited for. */
async function load(ports: Ports): Promise<void> {
  const users = await Promise.all(
    Array.from({ length: SOCKETS }, async (_, i) => {
      const user = `load-${ports.ws}-${i}`;
      const response = await fetch(`http://127.0.0.1:${ports.control}/token?user=${user}`);
      const { token } = (await response.json()) as { token: string };
      const client = await ChatClient.connect(`ws://127.0.0.1:${ports.ws}/local?token=${token}`);
      clients.push(client);
      const reply = await client.request(
        { action: 'createConversation', members: [`${user}-friend`] },
        30_000,
      );
      expect(reply.type).toBe('ack');
      const { conversationId } = reply.conversation as { conversationId: string };
      return { client, conversationId };
    }),
  );
  for (let n = 0; n < SENDS_PER_SOCKET; n++) {
    for (const { client, conversationId } of users) {
      client.sendRaw(
        JSON.stringify({ action: 'send', conversationId, clientMessageId: `m-${n}`, body: `burst ${n}` }),
      );
    }
  }
}

/**
 * The second start on the same ports: it must find them free, then stops cleanly on `signal` sent to its
 * process group (SIGHUP: the terminal it ran in was closed), leaving no Java.
 */
async function startsAgain(ports: Ports, stateFile: string, signal: NodeJS.Signals): Promise<void> {
  const again = await npmStart(ports, stateFile);
  expect(javaOnPort(ports.dynamodb)).toHaveLength(1);
  process.kill(-(again.child.pid ?? 0), signal);
  await again.exited;
  // npm itself dies of a SIGHUP at once; the runtime, which shares its output pipe, finishes its stop after.
  await expect.poll(() => again.output(), { timeout: 30_000, interval: 200 }).toContain('Stopped cleanly.');
  expect(again.output()).toContain(`${signal}: stopping`);
  await expect.poll(() => javaOnPort(ports.dynamodb), { timeout: 15_000, interval: 200 }).toEqual([]);
}

describe('npm start stopped under load', () => {
  it('stops cleanly on a terminal Ctrl-C during a burst, leaves no DynamoDB Local behind, and starts again on the same ports', async () => {
    // Prepare
    const ports = await freePorts();
    const stateFile = path.join(stateDir, `runtime-${ports.ws}.json`);
    const first = await npmStart(ports, stateFile);
    const javaWhileRunning = javaOnPort(ports.dynamodb);
    await load(ports);

    // Act: Ctrl-C in a terminal signals the whole foreground process group.
    process.kill(-(first.child.pid ?? 0), 'SIGINT');
    await first.exited;

    // Assess: its own stop ran ($disconnect for the open sockets), not a kill by a parent process.
    expect(javaWhileRunning).toHaveLength(1);
    expect(first.output()).toContain('Stopped cleanly.');
    await expect.poll(() => javaOnPort(ports.dynamodb), { timeout: 15_000, interval: 200 }).toEqual([]);
    await startsAgain(ports, stateFile, 'SIGINT');
  }, 240_000);

  it('leaves no DynamoDB Local behind when the runtime is killed outright, and starts again on the same ports (then closes its terminal)', async () => {
    // Prepare
    const ports = await freePorts();
    const stateFile = path.join(stateDir, `runtime-${ports.ws}.json`);
    const first = await npmStart(ports, stateFile);
    const javaWhileRunning = javaOnPort(ports.dynamodb);
    const runtimePid = (JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number }).pid;
    await load(ports);

    // Act: SIGKILL runs no handler at all, as for a crash of the process or the OOM killer.
    process.kill(runtimePid, 'SIGKILL');
    await first.exited;

    // Assess
    expect(javaWhileRunning).toHaveLength(1);
    await expect.poll(() => javaOnPort(ports.dynamodb), { timeout: 15_000, interval: 200 }).toEqual([]);
    await startsAgain(ports, stateFile, 'SIGHUP');
  }, 240_000);
});
