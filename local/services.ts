/**
 * The local stand-ins for AWS's data services: DynamoDB Local (Amazon's own engine, a Java process) and
 * fauxqs (an in-process SQS emulator with FIFO groups and redrive, which also serves the attachments
 * bucket's S3). Both start on free ports by default
 * so several runtimes, or test files, can run side by side, and both listen on loopback only and answer
 * no browser page (local/loopback.ts).
 */
import { type ChildProcess, type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { prepareDynamoDbLocalLauncher, spawnDynamoDbLocal } from './dynamodb-local';
import { LOOPBACK_HOST } from './loopback';
import { listenQueueEmulator, type QueueEmulatorReady } from './queue-emulator';

/** Java major version DynamoDB Local needs. */
export const MIN_JAVA_MAJOR = 17;

const JAVA_FIX =
  `DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+ on the PATH. ` +
  'Install it with: apt-get install openjdk-17-jre-headless (or any JDK/JRE 17 or newer).';

/** The parts of a `java -version` run the check reads. */
export type JavaVersionRun = Pick<SpawnSyncReturns<string>, 'error' | 'status' | 'stdout' | 'stderr'>;

const runJavaVersion = (): JavaVersionRun => spawnSync('java', ['-version'], { encoding: 'utf8' });

/**
 * The major version in `java -version` output: `openjdk version "17.0.15"` → 17, `"21"` → 21,
 * `java version "1.8.0_292"` → 8 (the pre-9 numbering).
 */
export function parseJavaMajorVersion(output: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  if (match?.[1] === undefined) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

/**
 * Fails early, with the fix in the message, when DynamoDB Local could not start for lack of Java.
 * @param run runs `java -version`; tests pass a fake result.
 * @throws Error naming `apt-get install openjdk-17-jre-headless` when `java` is missing or older than 17.
 */
export function assertJavaAvailable(run: () => JavaVersionRun = runJavaVersion): void {
  const result = run();
  if (result.error !== undefined) {
    throw new Error(`Java was not found (${result.error.message}). ${JAVA_FIX}`);
  }
  // `java -version` prints to stderr; some builds use stdout.
  const output = `${result.stderr ?? ''}\n${result.stdout ?? ''}`;
  const major = parseJavaMajorVersion(output);
  if (result.status !== 0 || major === undefined) {
    throw new Error(`\`java -version\` did not report a version (exit ${result.status}). ${JAVA_FIX}`);
  }
  if (major < MIN_JAVA_MAJOR) {
    throw new Error(`Found Java ${major}. ${JAVA_FIX}`);
  }
}

/** A port nobody listens on right now on loopback, from the OS. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, LOOPBACK_HOST);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('Could not pick a free port');
  return address.port;
}

/** Keeps the last `limit` characters a stream wrote, for error messages. */
function tail(limit: number): { push(chunk: Buffer | string): void; text(): string } {
  let text = '';
  return {
    push(chunk) {
      text = (text + chunk.toString()).slice(-limit);
    },
    text: () => text.trim(),
  };
}

export interface DynamoDbLocal {
  endpoint: string;
  /** The Java process's, to freeze it (SIGSTOP) in a chaos run; absent for a process that never spawned. */
  pid?: number;
  stop(): Promise<void>;
}

export interface DynamoDbLocalOptions {
  /** 0 or absent: a free port. */
  port?: number;
  /** @default 30_000 */
  startTimeoutMs?: number;
  /** Time SIGTERM gets before SIGKILL. @default 5_000 */
  stopGraceMs?: number;
  /**
   * Runs Java in a process group of its own, so a terminal's Ctrl-C reaches only the parent, which then
   * stops it in its turn. A parent killed outright still takes Java with it: Java exits when its stdin,
   * a pipe only the parent holds, closes (local/dynamodb-local.ts).
   * @default false
   */
  ownProcessGroup?: boolean;
  /**
   * Starts the process; tests pass a stand-in.
   * @default the in-memory Java process, listening on loopback (local/dynamodb-local.ts)
   */
  spawn?: (port: number, ownProcessGroup: boolean) => ChildProcess;
}

async function loopbackJava(): Promise<(port: number, ownProcessGroup: boolean) => ChildProcess> {
  const launcher = await prepareDynamoDbLocalLauncher();
  return (port, ownProcessGroup) => spawnDynamoDbLocal(launcher, LOOPBACK_HOST, port, ownProcessGroup);
}

/** Dummy credentials: DynamoDB Local and fauxqs accept any, but the SDK insists on some. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
export const LOCAL_REGION = 'us-east-1';

/**
 * An access key no one else uses: DynamoDB Local keeps one database per access key and region, so a
 * client with this key sees only the tables it made, even in a DynamoDB Local others share. Letters and
 * digits only, as DynamoDB Local 2 requires of a key.
 */
export function namespaceAccessKey(): string {
  return `local${randomUUID().replaceAll('-', '')}`;
}

/** A service's child process, watched from its start: its output's tail, how it ended, and its stop. */
interface Supervised {
  /** Why it is gone (a spawn error or its exit), or undefined while it runs. */
  ended(): string | undefined;
  exit: Promise<void>;
  output: { text(): string };
  /** SIGTERM, then SIGKILL after the grace; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Watches `child` until it exits: reads both pipes (a chatty process would otherwise block on a full
 * pipe buffer), and kills it if this process exits without stop(), a synchronous kill being all an
 * 'exit' hook can still do (and the child's stdin closes anyway, for a parent that ends with no hook).
 */
function supervise(child: ChildProcess, stopGraceMs = 5_000): Supervised {
  const output = tail(4_000);
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    ended: () =>
      spawnError?.message ?? (exited() ? `exit code ${child.exitCode ?? child.signalCode}` : undefined),
    exit,
    output,
    stop: async () => {
      process.off('exit', killOnExit);
      // A process that never spawned (no pid) emits no 'exit' to wait for.
      if (exited() || child.pid === undefined) return;
      child.kill('SIGTERM');
      const grace = setTimeout(() => child.kill('SIGKILL'), stopGraceMs);
      try {
        await exit;
      } finally {
        clearTimeout(grace);
      }
    },
  };
}

/**
 * Starts DynamoDB Local in memory and resolves once it answers ListTables.
 * @throws Error with the process's output tail when Java exits early or the start times out.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const port = options.port || (await freePort());
  const endpoint = `http://${LOOPBACK_HOST}:${port}`;
  const spawnJava = options.spawn ?? (await loopbackJava());
  const child = spawnJava(port, options.ownProcessGroup ?? false);
  const { ended, output, stop } = supervise(child, options.stopGraceMs);

  // One attempt per poll: the loop is the retry, and SDK backoff would only delay noticing readiness.
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  try {
    for (;;) {
      const how = ended();
      if (how !== undefined) {
        throw new Error(`DynamoDB Local exited before it was ready (${how}).\n${output.text()}`);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return { endpoint, stop, ...(child.pid !== undefined && { pid: child.pid }) };
      } catch {
        // Not listening yet: Java takes a second or two to start.
      }
      if (Date.now() > deadline) {
        throw new Error(`DynamoDB Local did not answer on ${endpoint} in time.\n${output.text()}`);
      }
      await sleep(100);
    }
  } catch (err: unknown) {
    await stop();
    throw err;
  } finally {
    client.destroy();
  }
}

export interface SqsEmulator {
  endpoint: string;
  /**
   * fauxqs serves S3 on the same port; buckets are virtual hosts of `s3.localhost`, resolved in this
   * process. It answers no CORS: the runtime puts local/s3-cors.ts in front of it.
   */
  s3Endpoint: string;
  /** The emulator's own process, when it has one: absent while it runs inside this process. */
  pid?: number;
  stop(): Promise<void>;
}

let localhostDns: { users: number; restore: () => void } | undefined;

/**
 * Resolves `*.localhost` to loopback in this process (RFC 6761 says it is loopback; glibc does not
 * resolve subdomains of it). Counted, so the last emulator to stop restores the real lookup.
 */
function resolveLocalhostSubdomains(intercept: () => () => void): () => void {
  localhostDns ??= { users: 0, restore: intercept() };
  localhostDns.users++;
  let released = false;
  return () => {
    if (released || localhostDns === undefined) return;
    released = true;
    if (--localhostDns.users === 0) {
      localhostDns.restore();
      localhostDns = undefined;
    }
  };
}

export interface SqsEmulatorOptions {
  /** 0 or absent: a free port. */
  port?: number;
  /**
   * Runs fauxqs in a child process of its own (local/queue-emulator.ts), whose pid a chaos run can
   * freeze alone. It costs a Node process (about 60 MB) and a few hundred ms of start. @default false
   */
  ownProcess?: boolean;
  /** With `ownProcess`: in a process group of its own, as DynamoDB Local's `ownProcessGroup`. @default false */
  ownProcessGroup?: boolean;
  /** With `ownProcess`. @default 30_000 */
  startTimeoutMs?: number;
}

/**
 * Starts fauxqs on loopback (local/queue-emulator.ts), in this process unless `ownProcess`; 0 or no port
 * picks a free one.
 *
 * fauxqs names queues `http://sqs.us-east-1.localhost:PORT/000000000000/NAME`, and the SDK sends each
 * request to its QueueUrl's host when that differs from the client's endpoint (with a warning per
 * call). So the endpoint is that same host, and `*.localhost` resolves to loopback in this process,
 * where the handlers run: their clients, configured only through AWS_ENDPOINT_URL, use the queue URLs
 * unchanged and quietly.
 * @throws Error with the child's output tail when it exits early or does not start in time.
 */
export async function startSqsEmulator(options: SqsEmulatorOptions = {}): Promise<SqsEmulator> {
  const { interceptLocalhostDns } = await import('fauxqs');
  const emulator: { port: number; pid?: number | undefined; close(): Promise<void> } = options.ownProcess
    ? await spawnQueueEmulator(options)
    : await listenQueueEmulator(options.port ?? 0);
  const release = resolveLocalhostSubdomains(() => interceptLocalhostDns('localhost'));
  const { pid } = emulator;
  return {
    endpoint: `http://sqs.${LOCAL_REGION}.localhost:${emulator.port}`,
    s3Endpoint: `http://s3.localhost:${emulator.port}`,
    ...(pid !== undefined && { pid }),
    stop: async () => {
      release();
      await emulator.close();
    },
  };
}

/** local/queue-emulator.ts run by Node with tsx's loader, as `npm start` runs local/start.ts. */
const QUEUE_EMULATOR_SCRIPT = path.join(__dirname, 'queue-emulator.ts');

/**
 * Runs local/queue-emulator.ts as a child and resolves once it prints its port. Its stdin is a pipe only
 * this process holds, so it ends when this process ends, however it ends (see spawnDynamoDbLocal).
 */
async function spawnQueueEmulator(
  options: SqsEmulatorOptions,
): Promise<{ port: number; pid: number | undefined; close(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(require.resolve('tsx')).href,
      QUEUE_EMULATOR_SCRIPT,
      String(options.port ?? 0),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'], detached: options.ownProcessGroup ?? false },
  );
  const { ended, exit, output, stop } = supervise(child);
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const started = new AbortController();
  try {
    const first = await Promise.race([
      once(lines, 'line').then(([line]) => String(line)),
      exit.then(() => undefined),
      sleep(timeoutMs, null, { signal: started.signal }).catch(() => null),
    ]);
    if (typeof first !== 'string') {
      const how = ended() ?? `no port within ${timeoutMs} ms`;
      throw new Error(`The queue emulator did not start (${how}).\n${output.text()}`);
    }
    const { port } = JSON.parse(first) as QueueEmulatorReady;
    return { port, pid: child.pid, close: stop };
  } catch (err: unknown) {
    await stop();
    throw err;
  } finally {
    started.abort();
    lines.close();
  }
}
