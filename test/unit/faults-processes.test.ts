/**
 * The processes a chaos run freezes (issue 18, point 1): DynamoDB Local's pid, and the queue emulator in
 * a process of its own, which SIGSTOP freezes alone, SIGCONT resumes, and which ends with its parent
 * however the parent ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type SqsEmulator,
  startDynamoDbLocal,
  startSqsEmulator,
} from '../../local/services';

/** Signal 0 only asks whether the process exists. */
const isAlive = (pid: number): boolean => {
  try {
    return process.kill(pid, 0);
  } catch {
    return false;
  }
};

const started: SqsEmulator[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(started.splice(0).map((emulator) => emulator.stop()));
});

/** One ListQueues that gives up after `timeoutMs`, as a client of a frozen service would. */
async function listQueues(emulator: SqsEmulator, timeoutMs: number): Promise<string> {
  const sqs = new SQSClient({
    endpoint: emulator.endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  try {
    await sqs.send(new ListQueuesCommand({}), { abortSignal: AbortSignal.timeout(timeoutMs) });
    return 'answered';
  } catch (err: unknown) {
    return err instanceof Error ? err.name : String(err);
  } finally {
    sqs.destroy();
  }
}

describe('startDynamoDbLocal', () => {
  it("reports its process's pid", async () => {
    // Prepare: a stand-in that answers ListTables on the port it is given, as DynamoDB Local would.
    let child: ChildProcess | undefined;
    const answers = (port: number): ChildProcess => {
      child = spawn(process.execPath, [
        '-e',
        `require('node:http').createServer((_, res) => res.end('{"TableNames":[]}')).listen(${port}, '127.0.0.1')`,
      ]);
      return child;
    };

    // Act
    const dynamo = await startDynamoDbLocal({ spawn: answers });
    await dynamo.stop();

    // Assess
    expect(dynamo.pid).toBe(child?.pid);
    expect(dynamo.pid).not.toBe(process.pid);
  });
});

describe('startSqsEmulator in a process of its own', () => {
  it('serves SQS from another process, which SIGSTOP freezes and SIGCONT resumes, until stopped', async () => {
    // Prepare
    const emulator = await startSqsEmulator({ ownProcess: true });
    started.push(emulator);
    const pid = emulator.pid ?? -1;

    // Act
    const before = await listQueues(emulator, 5_000);
    process.kill(pid, 'SIGSTOP');
    const frozen = await listQueues(emulator, 300).finally(() => process.kill(pid, 'SIGCONT'));
    const resumed = await listQueues(emulator, 5_000);
    await emulator.stop();

    // Assess
    expect(pid).not.toBe(process.pid);
    expect([before, frozen, resumed]).toEqual(['answered', 'AbortError', 'answered']);
    expect(isAlive(pid)).toBe(false);
  }, 60_000);

  it('runs in this process by default, with no pid to freeze', async () => {
    // Act
    const emulator = await startSqsEmulator();
    started.push(emulator);

    // Assess
    expect(emulator.pid).toBeUndefined();
    expect(await listQueues(emulator, 5_000)).toBe('answered');
  });

  it('ends with its parent, even one killed outright', async () => {
    // Prepare: a parent that starts it and prints its pid, as the runtime would.
    const services = path.join(__dirname, '..', '..', 'local', 'services.ts');
    const parent = spawn(process.execPath, [
      '--import',
      pathToFileURL(require.resolve('tsx')).href,
      '-e',
      `require(${JSON.stringify(services)}).startSqsEmulator({ ownProcess: true }).then((e) => console.log(e.pid))`,
    ]);
    children.push(parent);
    let stderr = '';
    parent.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: parent.stdout }).once('line', resolve);
      parent.once('exit', (code) => reject(new Error(`The parent exited (${code}) first:\n${stderr}`)));
    });
    const pid = Number(line);
    expect(isAlive(pid)).toBe(true);

    // Act
    parent.kill('SIGKILL');

    // Assess
    await expect.poll(() => isAlive(pid), { timeout: 10_000 }).toBe(false);
  }, 60_000);
});
