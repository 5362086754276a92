import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import dns from 'node:dns';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, ListQueuesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  assertJavaAvailable,
  type DynamoDbLocal,
  type JavaVersionRun,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  parseJavaMajorVersion,
  startDynamoDbLocal,
  startSqsEmulator,
} from '../../local/services';

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The `java` processes whose command line runs DynamoDB Local on this port. */
function dynamoDbLocalPids(port: string): number[] {
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return ps
    .split('\n')
    .filter((line) => line.includes('DynamoDBLocal.jar') && line.includes(`-port ${port}`))
    .map((line) => Number.parseInt(line.trim(), 10));
}

const javaRun = (stderr: string, status = 0): JavaVersionRun => ({
  error: undefined,
  status,
  stdout: '',
  stderr,
});

describe('assertJavaAvailable', () => {
  it('accepts Java 17', () => {
    // Prepare
    const run = () => javaRun('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment');

    // Act / Assess
    expect(() => assertJavaAvailable(run)).not.toThrow();
  });

  it('names the openjdk-17 package when java is not on the PATH', () => {
    // Prepare
    const missing = Object.assign(new Error('spawnSync java ENOENT'), { code: 'ENOENT' });
    const run = (): JavaVersionRun => ({ error: missing, status: null, stdout: '', stderr: '' });

    // Act / Assess
    expect(() => assertJavaAvailable(run)).toThrow(/apt-get install openjdk-17-jre-headless/);
    expect(() => assertJavaAvailable(run)).toThrow(/Java 17\+/);
  });

  it('names the openjdk-17 package when java is 11', () => {
    // Prepare
    const run = () => javaRun('openjdk version "11.0.22" 2024-01-16\nOpenJDK Runtime Environment');

    // Act / Assess
    expect(() => assertJavaAvailable(run)).toThrow(/Found Java 11\..*openjdk-17-jre-headless/);
  });

  it('refuses Java 8, which reports itself as 1.8', () => {
    // Prepare
    const run = () => javaRun('java version "1.8.0_292"');

    // Act / Assess
    expect(parseJavaMajorVersion('java version "1.8.0_292"')).toBe(8);
    expect(() => assertJavaAvailable(run)).toThrow(/Found Java 8\./);
  });

  it('reads single-number versions such as "21"', () => {
    expect(parseJavaMajorVersion('openjdk version "21" 2023-09-19')).toBe(21);
  });

  it('passes on this machine, where DynamoDB Local runs', () => {
    expect(() => assertJavaAvailable()).not.toThrow();
  });
});

describe('startDynamoDbLocal', () => {
  // The start-up is what this file tests, so it starts the services itself, not through the fixtures
  // of test/support/local-runtime.ts, which are built on these functions.
  let dynamo: DynamoDbLocal;

  beforeAll(async () => {
    dynamo = await startDynamoDbLocal();
  });

  afterAll(async () => {
    await dynamo.stop();
  });

  it('answers ListTables on a free port', async () => {
    // Prepare
    const client = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });

    // Act
    const output = await client.send(new ListTablesCommand({}));

    // Assess
    expect(dynamo.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(output.TableNames).toEqual([]);
    client.destroy();
  });

  it('leaves no Java process behind once stopped', async () => {
    // Prepare
    const own = await startDynamoDbLocal();
    const port = new URL(own.endpoint).port;
    const [pid] = dynamoDbLocalPids(port);
    expect(pid).toBeDefined();
    const exitHooks = process.listenerCount('exit');

    // Act
    await own.stop();

    // Assess
    expect(isAlive(pid ?? -1)).toBe(false);
    expect(dynamoDbLocalPids(port)).toEqual([]);
    expect(process.listenerCount('exit')).toBe(exitHooks - 1);
  });

  it('rejects with the output tail when the process exits before answering', async () => {
    // Prepare
    const exitsAtOnce = (): ChildProcess =>
      spawn(process.execPath, [
        '-e',
        "console.error('java.net.BindException: Address already in use'); process.exit(1)",
      ]);

    // Act
    const started = startDynamoDbLocal({ spawn: exitsAtOnce });

    // Assess
    await expect(started).rejects.toThrow(/exited before it was ready \(exit code 1\)[\s\S]*BindException/);
  });

  it('kills a process that ignores SIGTERM when it never answers in time', async () => {
    // Prepare
    let child: ChildProcess | undefined;
    const neverAnswers = (): ChildProcess => {
      child = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"]);
      return child;
    };

    // Act
    const started = startDynamoDbLocal({ spawn: neverAnswers, startTimeoutMs: 500, stopGraceMs: 200 });

    // Assess
    await expect(started).rejects.toThrow(/did not answer on http:\/\/127\.0\.0\.1:\d+ in time/);
    expect(child?.signalCode).toBe('SIGKILL');
    expect(isAlive(child?.pid ?? -1)).toBe(false);
  });
});

describe('startSqsEmulator', () => {
  it('serves SQS on a free port until stopped', async () => {
    // Prepare
    const emulator = await startSqsEmulator();
    const client = new SQSClient({
      endpoint: emulator.endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });

    // Act
    const before = await client.send(new ListQueuesCommand({}));
    await emulator.stop();

    // Assess
    expect(before.$metadata.httpStatusCode).toBe(200);
    await expect(client.send(new ListQueuesCommand({}))).rejects.toThrow();
    client.destroy();
  });

  it('serves its queue URLs to a client configured only through AWS_ENDPOINT_URL, as handlers are', async () => {
    // Prepare
    const realLookup = dns.lookup;
    const emulator = await startSqsEmulator();
    const admin = new SQSClient({
      endpoint: emulator.endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    const { QueueUrl } = await admin.send(new CreateQueueCommand({ QueueName: 'from-env' }));
    const warn = vi.spyOn(console, 'warn');
    vi.stubEnv('AWS_ENDPOINT_URL', emulator.endpoint);
    const handlerClient = new SQSClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });

    try {
      // Act
      const sent = await handlerClient.send(new SendMessageCommand({ QueueUrl, MessageBody: 'hello' }));

      // Assess: the SDK neither redirected to an unresolvable host nor warned about it.
      expect(sent.MessageId).toEqual(expect.any(String));
      expect(warn).not.toHaveBeenCalled();
    } finally {
      vi.unstubAllEnvs();
      warn.mockRestore();
      admin.destroy();
      handlerClient.destroy();
      await emulator.stop();
    }
    expect(dns.lookup).toBe(realLookup);
  });
});
