/**
 * Runs the real Lambda handlers in this process. Which handlers exist, what environment each gets and
 * how long it may run all come from lib/wiring.ts, the table the CDK stack is built from.
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store';
import { DEFAULT_TIMEOUT_SECONDS, type FunctionWiring } from '../lib/wiring';
import { ENV } from '../shared/env';
import { runInvocation } from '../shared/invocation';
import { TABLE_ENV, type TableName, type TableNames } from '../shared/tables';
import { Admission, DEFAULT_LOCAL_CONCURRENCY } from './admission';
import { type Faults, runCrashable } from './faults';

/** What a caller may pass with an invocation. */
export interface InvokeOptions {
  /** Aborted when the caller gives up (API Gateway's integration timeout): a waiting invocation never runs. */
  signal?: AbortSignal;
}

export type Invoke = (event: unknown, options?: InvokeOptions) => Promise<unknown>;

/** Physical resources a function's environment points at, as the stack would pass them. */
export interface ResourceValues {
  tables: TableNames;
  fanoutQueueUrl: string;
  deadLetterQueueUrl: string;
  shardQueueUrl: string;
  managementEndpoint: string;
  jwt: { issuer: string; jwksUrl: string; audience: string };
  attachmentsBucket: string;
  offlineEventBus: string;
}

/** The environment variables the stack gives a function with this wiring (see lib/chat-function.ts). */
export function environmentFor(wiring: FunctionWiring, values: ResourceValues): Record<string, string> {
  const env: Record<string, string> = {};
  for (const table of Object.keys(wiring.tables) as TableName[]) env[TABLE_ENV[table]] = values.tables[table];
  if (wiring.fanoutQueue) env[ENV.fanoutQueueUrl] = values.fanoutQueueUrl;
  if (wiring.deadLetterQueue) env[ENV.deadLetterQueueUrl] = values.deadLetterQueueUrl;
  if (wiring.shardQueue) env[ENV.shardQueueUrl] = values.shardQueueUrl;
  if (wiring.managementApi) env[ENV.managementEndpoint] = values.managementEndpoint;
  if (wiring.attachments) env[ENV.attachmentsBucket] = values.attachmentsBucket;
  if (wiring.eventBus) env[ENV.offlineEventBus] = values.offlineEventBus;
  if (wiring.verifiesTokens) {
    env[ENV.jwtIssuer] = values.jwt.issuer;
    env[ENV.jwtJwksUrl] = values.jwt.jwksUrl;
    env[ENV.jwtAudience] = values.jwt.audience;
  }
  return env;
}

/** Memory of a function whose wiring names none: FunctionWiring's documented default, as deployed. */
const DEFAULT_MEMORY_MIB = 256;

/** One finished invocation, with what Lambda bills for it: a request, and its duration at its memory. */
export interface InvocationRecord {
  functionName: string;
  durationMs: number;
  memoryMiB: number;
  /** The SQS records of an event source's batch; undefined for other events. */
  records: number | undefined;
}

const invocationObservers = new Set<(record: InvocationRecord) => void>();

/** Calls `observer` after every local invocation (the bench's bill); returns the function that stops it. */
export function observeInvocations(observer: (record: InvocationRecord) => void): () => void {
  invocationObservers.add(observer);
  return () => invocationObservers.delete(observer);
}

/** A minimal Lambda context: enough for Powertools and for handlers that watch their deadline. */
function lambdaContext(name: string, timeoutMs: number, memoryMiB: number) {
  const deadline = Date.now() + timeoutMs;
  return {
    functionName: `local-${name}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:local-${name}`,
    memoryLimitInMB: String(memoryMiB),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/local-${name}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

/** A wait for a slot at least this long is told in the invocation's log line. */
const QUEUED_LOG_MS = 100;

export class FunctionTimeoutError extends Error {
  override readonly name = 'FunctionTimeoutError';
  constructor(functionName: string, seconds: number) {
    super(`Task timed out after ${seconds} seconds (${functionName})`);
  }
}

/**
 * A local invocation that a fault crashed (local/faults.ts), as Lambda reports a runtime that exited
 * mid-invocation: the caller sees a function error, and nothing the handler does afterwards counts.
 */
export class FunctionCrashError extends Error {
  override readonly name = 'Runtime.ExitError';
  constructor(functionName: string, reason: string) {
    super(`Runtime exited with error: crashed at ${reason} (${functionName})`);
  }
}

/** Names what an event is about for the one-line log: a connection for WebSocket events, a count for SQS. */
function subjectOf(event: unknown): string {
  if (typeof event !== 'object' || event === null) return '';
  const record = event as { requestContext?: { connectionId?: unknown }; Records?: unknown[] };
  if (Array.isArray(record.Records))
    return `${record.Records.length} record${record.Records.length === 1 ? '' : 's'}`;
  const connectionId = record.requestContext?.connectionId;
  return typeof connectionId === 'string' ? connectionId : '';
}

/** Describes an invocation's outcome in a few words for the one-line log. */
function outcomeOf(result: unknown): string {
  if (result === undefined || result === null) return 'ok';
  if (typeof result !== 'object') return 'ok';
  const record = result as Record<string, unknown>;
  if (Array.isArray(record.batchItemFailures)) {
    const failed = record.batchItemFailures.length;
    return failed === 0 ? 'ok' : `${failed} failed`;
  }
  if (record.policyDocument !== undefined) return `principal ${String(record.principalId)}`;
  if (typeof record.body === 'string') {
    try {
      const frame = JSON.parse(record.body) as Record<string, unknown>;
      if (frame.type === 'error') return `error ${String(frame.code)}`;
      if (frame.type === 'ack') return 'ack';
    } catch {
      // Not a protocol frame: fall through to the status code.
    }
  }
  if (typeof record.statusCode === 'number') return String(record.statusCode);
  return 'ok';
}

export interface LocalFunctions {
  /**
   * Invokes a function by wiring name, with its timeout, once one of its slots is free; `trigger` names
   * what invoked it, for the log.
   */
  invoke(name: string, event: unknown, trigger?: string, options?: InvokeOptions): Promise<unknown>;
  invoker(name: string, trigger?: string): Invoke;
}

export interface LoadFunctionsOptions {
  root: string;
  onLog: (line: string) => void;
  /**
   * Invocations of each function that run at once; the others wait in arrival order (local/admission.ts).
   * Infinity lets every invocation run at once. @default DEFAULT_LOCAL_CONCURRENCY
   */
  concurrency?: number;
  /** The runtime's faults (local/faults.ts): they apply to these functions' calls, and may crash them. */
  faults?: Faults;
}

/**
 * The store that makes each invocation's Powertools state (log keys, Lambda context, stored metrics) its
 * own. On Lambda an environment runs one invocation at a time, so a handler's module-scope logger holds
 * one invocation's keys; here the invocations of a function share one module. Lambda's runtime for
 * environments that do run several at once (Managed Instances) sets AWS_LAMBDA_MAX_CONCURRENCY and runs
 * each invocation in a context of this store, which Powertools reads; the local runtime does the same,
 * so the handlers stay as deployed. It is created when this module loads, as the runtime creates it
 * before any code runs: the AWS SDK's first request would otherwise create the process-wide store in
 * its one-invocation kind, which keeps a single context for all.
 */
const invokeStoreCreated = InvokeStore.getInstanceAsync(true);

/** The store, once Powertools knows that invocations run at once (it reads only that the variable is set). */
async function concurrentInvokeStore(concurrency: number): Promise<InvokeStoreBase> {
  const store = await invokeStoreCreated;
  if (store.constructor.name !== 'InvokeStoreMulti') {
    throw new Error(
      'An AWS SDK call made before local/functions.ts was imported created the InvokeStore for one ' +
        'invocation at a time: import local/functions.ts first',
    );
  }
  process.env.AWS_LAMBDA_MAX_CONCURRENCY = String(concurrency);
  return store;
}

/**
 * Imports every handler named in `functions`. Call it after process.env holds the environment, because
 * handlers read their variables once, at module load, exactly as on a Lambda cold start.
 */
/**
 * Functions that guard themselves: the send function's admission gate (shared/admission.ts) answers what it
 * cannot take in time `busy` at once, before any AWS call, as it does on AWS. Queued here, a burst would never
 * reach the gate: its frames would wait past the clients' resend timeout and be resent while still queued,
 * each copy costing the claim's calls (the burst e2e measured 7.8 calls per message against 7.0 alone).
 */
const GATED_FUNCTIONS = new Set(['send']);

export async function loadFunctions(
  functions: Record<string, FunctionWiring>,
  options: LoadFunctionsOptions,
): Promise<LocalFunctions> {
  const concurrency = options.concurrency ?? DEFAULT_LOCAL_CONCURRENCY;
  const invokeStore = await concurrentInvokeStore(concurrency);
  const handlers = new Map<string, Handler>();
  const admissions = new Map<string, Admission>();
  for (const [name, wiring] of Object.entries(functions)) {
    const module = (await import(path.resolve(options.root, wiring.entry))) as { handler?: unknown };
    if (typeof module.handler !== 'function') {
      throw new Error(`${wiring.entry} does not export a handler function (function ${name})`);
    }
    handlers.set(name, module.handler as Handler);
    admissions.set(
      name,
      new Admission(name, GATED_FUNCTIONS.has(name) ? Number.POSITIVE_INFINITY : concurrency),
    );
  }

  const invoke = async (
    name: string,
    event: unknown,
    trigger = name,
    invokeOptions: InvokeOptions = {},
  ): Promise<unknown> => {
    const admission = admissions.get(name);
    if (admission === undefined) throw new Error(`No local function named ${name}`);
    const arrived = performance.now();
    // As on Lambda, the timeout and the context's remaining time start when the invocation does.
    return admission.run(
      () => runAdmitted(name, event, trigger, performance.now() - arrived),
      invokeOptions.signal,
    );
  };

  const runAdmitted = async (
    name: string,
    event: unknown,
    trigger: string,
    waitedMs: number,
  ): Promise<unknown> => {
    const handler = handlers.get(name);
    const wiring = functions[name];
    if (handler === undefined || wiring === undefined) throw new Error(`No local function named ${name}`);
    const seconds = wiring.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
    const memoryMiB = wiring.memoryMiB ?? DEFAULT_MEMORY_MIB;
    const started = performance.now();
    // Lambda stops a timed-out invocation for good; aborting its scope makes every AWS call it would
    // still make fail (shared/invocation.ts), so it cannot keep competing with the invocations after it.
    const stop = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        stop.abort();
        reject(new FunctionTimeoutError(name, seconds));
      }, seconds * 1000);
    });
    const line = (outcome: string) =>
      `${name.padEnd(13)} ${trigger.padEnd(20)} ${subjectOf(event).padEnd(16)} ` +
      `${`${Math.round(performance.now() - started)} ms`.padStart(7)}  ${outcome}` +
      (waitedMs >= QUEUED_LOG_MS ? ` (waited ${Math.round(waitedMs)} ms for a slot)` : '');
    // A fault may crash the invocation once, while it runs; a call it left behind cannot crash it later.
    let over = false;
    let crash: (reason: string) => boolean = () => false;
    const crashed = new Promise<never>((_, reject) => {
      crash = (reason) => {
        if (over) return false;
        over = true;
        stop.abort();
        reject(new FunctionCrashError(name, reason));
        return true;
      };
    });
    // Rejected only if it wins the race below; otherwise no one is left to tell.
    crashed.catch(() => undefined);
    try {
      const context = lambdaContext(name, seconds * 1000, memoryMiB);
      const run = () =>
        runInvocation({ functionName: name, signal: stop.signal }, () => handler(event, context));
      const { faults } = options;
      const running = invokeStore.run(
        { [InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID]: context.awsRequestId },
        () => (faults === undefined ? run() : runCrashable({ faults, functionName: name, crash }, run)),
      );
      // The stopped invocation's own rejection is expected; it must not surface as unhandled.
      running.catch(() => undefined);
      // A crashed invocation's result, whenever it comes, is ignored, as a dead runtime returns none.
      const result = await Promise.race([running, timeout, crashed]);
      options.onLog(line(outcomeOf(result)));
      return result;
    } catch (err: unknown) {
      options.onLog(line(`threw ${err instanceof Error ? err.message : String(err)}`));
      throw err;
    } finally {
      over = true;
      clearTimeout(timer);
      const records = (event as { Records?: unknown } | null)?.Records;
      const record: InvocationRecord = {
        functionName: name,
        durationMs: performance.now() - started,
        memoryMiB,
        records: Array.isArray(records) ? records.length : undefined,
      };
      for (const observer of invocationObservers) observer(record);
    }
  };

  return {
    invoke,
    invoker: (name, trigger) => (event, invokeOptions) => invoke(name, event, trigger, invokeOptions),
  };
}
