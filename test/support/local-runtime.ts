/**
 * The fixtures of the test files that run against local services: {@link useLocalRuntime} for the whole
 * runtime (`npm start` in-process), {@link useDynamoDbLocal} and {@link useSqsEmulator} for one service.
 * Each starts before the tests of the file (or `describe`) that calls it and stops after them. Under
 * the `local` project they share the run's one DynamoDB Local (test/global-setup.ts), each in a database
 * of its own. The plain steps of the end-to-end tests live in test/e2e/helpers.ts, which the benchmark
 * also imports and which must not load vitest.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, inject } from 'vitest';
import {
  type LocalRuntime,
  type LocalRuntimeOptions,
  type SharedDynamoDb,
  startLocalRuntime,
} from '../../local/runtime';
import * as services from '../../local/services';
import type { RuntimeState } from '../../local/state';

/** Something a test opened that must be closed before the runtime stops (a socket, an SDK client). */
interface Closeable {
  close(): unknown;
}

/**
 * Starts `start` before the tests and runs `stop` after them; `get` fails clearly when a test reads the
 * value outside that window.
 */
function useStarted<T>(what: string, start: () => Promise<T>, stop: (value: T) => Promise<void>): () => T {
  let value: T | undefined;
  beforeAll(async () => {
    value = await start();
  });
  afterAll(async () => {
    if (value !== undefined) await stop(value);
  });
  return () => {
    if (value === undefined) throw new Error(`${what} is not started yet`);
    return value;
  };
}

export interface LocalRuntimeFixtureOptions extends LocalRuntimeOptions {
  /**
   * Writes the runtime's addresses to a state file of the file's own, as `npm start` does, so that a
   * CLI in a child process (`npm run chat`, `npm run redrive`) finds this runtime through
   * `RUNTIME_STATE_FILE={@link LocalRuntimeFixture.stateFile}`. @default false
   */
  stateFile?: boolean;
  /**
   * Starts a DynamoDB Local of the runtime's own instead of a database in the run's shared one: for a
   * file that stops, freezes or restarts DynamoDB Local, which must not take the other files' with it.
   * @default false
   */
  ownDynamoDb?: boolean;
}

/**
 * A database of its own in the run's DynamoDB Local (test/global-setup.ts), or undefined where there is
 * none (a run outside the `local` project): the caller then starts a DynamoDB Local of its own.
 */
function sharedDynamoDb(): SharedDynamoDb | undefined {
  const endpoint = inject('sharedDynamoDbEndpoint');
  return endpoint === undefined ? undefined : { endpoint, accessKeyId: services.namespaceAccessKey() };
}

export interface LocalRuntimeFixture {
  runtime: () => LocalRuntime;
  /** Closes `client` before the runtime stops; returns it (awaited, when given a promise). */
  track: {
    <C extends Closeable>(client: Promise<C>): Promise<C>;
    <C extends Closeable>(client: C): C;
  };
  /** The state file the runtime was written to (with `stateFile: true`). */
  stateFile: () => string;
}

/**
 * One local runtime for the test file (or `describe`) that calls it, with handler logs at ERROR unless
 * `options` say otherwise. At the end every client that `track` was given is closed, then the runtime
 * stops and the state file goes.
 */
export function useLocalRuntime(options: LocalRuntimeFixtureOptions = {}): LocalRuntimeFixture {
  const { stateFile: withStateFile = false, ownDynamoDb = false, ...runtimeOptions } = options;
  const clients: Closeable[] = [];
  let stateDir: string | undefined;
  const runtime = useStarted(
    'The local runtime',
    async () => {
      const started = await startLocalRuntime({
        logLevel: 'ERROR',
        sharedDynamoDb: ownDynamoDb ? undefined : sharedDynamoDb(),
        ...runtimeOptions,
      });
      if (withStateFile) {
        stateDir = mkdtempSync(path.join(tmpdir(), 'runtime-state-'));
        // This process is the runtime's pid, as `npm start`'s process is for the state it writes.
        const state: RuntimeState = {
          pid: process.pid,
          webSocketUrl: started.webSocketUrl,
          managementEndpoint: started.managementEndpoint,
          controlUrl: started.controlUrl,
        };
        writeFileSync(path.join(stateDir, 'runtime.json'), JSON.stringify(state));
      }
      return started;
    },
    async (started) => {
      await Promise.all(clients.splice(0).map((client) => client.close()));
      await started.stop();
      if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
    },
  );
  function track<C extends Closeable>(client: Promise<C>): Promise<C>;
  function track<C extends Closeable>(client: C): C;
  function track<C extends Closeable>(client: C | Promise<C>): C | Promise<C> {
    if (client instanceof Promise) return client.then((opened: C) => track(opened));
    clients.push(client);
    return client;
  }
  return {
    runtime,
    track,
    stateFile: () => {
      if (stateDir === undefined) throw new Error('No state file: pass `stateFile: true` to useLocalRuntime');
      return path.join(stateDir, 'runtime.json');
    },
  };
}

const localClientConfig = (endpoint: string, accessKeyId = services.LOCAL_CREDENTIALS.accessKeyId) => ({
  endpoint,
  region: services.LOCAL_REGION,
  credentials: { ...services.LOCAL_CREDENTIALS, accessKeyId },
});

/**
 * A client for an empty DynamoDB Local: a database of its own in the run's shared one, or else a
 * DynamoDB Local of its own on a free port.
 */
export function useDynamoDbLocal(): () => { endpoint: string; ddb: DynamoDBClient } {
  return useStarted(
    'DynamoDB Local',
    async () => {
      const shared = sharedDynamoDb();
      const dynamo = shared ?? (await services.startDynamoDbLocal());
      const ddb = new DynamoDBClient(localClientConfig(dynamo.endpoint, shared?.accessKeyId));
      return { endpoint: dynamo.endpoint, ddb, stop: 'stop' in dynamo ? dynamo.stop : undefined };
    },
    async ({ ddb, stop }) => {
      ddb.destroy();
      await stop?.();
    },
  );
}

/** The SQS emulator (fauxqs, which also serves S3) on a free port, with an SQS client for it. */
export function useSqsEmulator(): () => { emulator: services.SqsEmulator; sqs: SQSClient } {
  return useStarted(
    'The SQS emulator',
    async () => {
      const emulator = await services.startSqsEmulator();
      return { emulator, sqs: new SQSClient(localClientConfig(emulator.endpoint)) };
    },
    async ({ emulator, sqs }) => {
      sqs.destroy();
      await emulator.stop();
    },
  );
}
