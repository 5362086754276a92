/**
 * The bench's meter: it adds up what a scenario made AWS do, from the events the local runtime reports
 * (every SDK request of every function, DynamoDB's consumed capacity, each invocation, each log byte)
 * and from the frames its clients sent and received. It only counts; bench/prices.ts puts the prices
 * on it and bench/instrument.ts feeds it.
 */

import { FUNCTION_LOGGING, type FunctionLogging, writesPlatformLines } from '../lib/function-logging';
import type { InvocationRecord } from '../local/functions';
import type { CapacityReport } from '../shared/consumed-capacity';
import type { AwsRequest } from '../shared/invocation';
import { apiGatewayUnits, gbSeconds, type Usage } from './prices';

/**
 * The lines the Lambda platform itself writes to a function's log group for each invocation (START,
 * END, and REPORT with its X-Ray line, since every function traces), with typical values: CloudWatch
 * ingests them like the function's own lines. Not produced locally, so counted from this model, and
 * only when the functions' logging configuration lets Lambda write them.
 */
const PLATFORM_LOG_LINES = [
  'START RequestId: 6f0c9a52-8c1e-4f7b-a0d3-5e2b9c7d1a44 Version: $LATEST\n',
  'END RequestId: 6f0c9a52-8c1e-4f7b-a0d3-5e2b9c7d1a44\n',
  'REPORT RequestId: 6f0c9a52-8c1e-4f7b-a0d3-5e2b9c7d1a44\tDuration: 23.17 ms\tBilled Duration: 24 ms\t' +
    'Memory Size: 256 MB\tMax Memory Used: 97 MB\t\n' +
    'XRAY TraceId: 1-6755a1f0-3c2d1e0f9a8b7c6d5e4f3a2b\tSegmentId: 4f3e2d1c0b9a8f7e\tSampled: true\t\n',
];

/**
 * Log bytes the platform adds per invocation under `logging`: the lines of PLATFORM_LOG_LINES where
 * Lambda writes them, none where its system log level drops them (lib/function-logging.ts).
 */
export function platformLogBytesPerInvocation(logging: FunctionLogging = FUNCTION_LOGGING): number {
  if (!writesPlatformLines(logging)) return 0;
  return PLATFORM_LOG_LINES.reduce((sum, line) => sum + Buffer.byteLength(line), 0);
}

/** Log bytes the platform adds per invocation as the stack deploys the functions. */
export const PLATFORM_LOG_BYTES_PER_INVOCATION = platformLogBytesPerInvocation();

/**
 * Units DynamoDB bills per item of a transaction (each item here under 1 KB, its index writes aside).
 * DynamoDB Local's answer for a transaction is no count of its items (2 units per table touched, one
 * item or several), so transactions are counted from their items instead.
 */
export const UNITS_PER_TRANSACTION_ITEM = 2;

/** What one function did during a count. */
export interface FunctionCounts {
  invocations: number;
  durationMs: number;
  gbSeconds: number;
  /** The function's own log bytes (the platform's lines are added in {@link MeterCounts.logBytes}). */
  logBytes: number;
  /** SDK requests by `Service.Operation`, each retry attempt a request of its own. */
  calls: Record<string, number>;
  readUnits: number;
  writeUnits: number;
  /** Read and write units by `Service.Operation`. */
  capacity: Record<string, { readUnits: number; writeUnits: number }>;
}

/** Everything one count saw. */
export interface MeterCounts {
  functions: Record<string, FunctionCounts>;
  frames: { in: number; out: number; bytesIn: number; bytesOut: number; units: number };
  /** Requests of the SQS event source: one ReceiveMessage and one DeleteMessageBatch per batch it handed over. */
  eventSourceRequests: number;
  /** The functions' log bytes plus the platform's per invocation, where it writes any. */
  logBytes: number;
}

/** `DynamoDBClient` + `PutItemCommand` → `DynamoDB.PutItem`. */
export function operationName(client: string, command: string): string {
  return `${client.replace(/Client$/, '')}.${command.replace(/Command$/, '')}`;
}

const NO_FUNCTION = '(no function)';

/** Adds up the events it is given while started; ignores them otherwise. */
export class BillMeter {
  private counting = false;
  private functions: Record<string, FunctionCounts> = {};
  private frames = { in: 0, out: 0, bytesIn: 0, bytesOut: 0, units: 0 };
  private eventSourceRequests = 0;

  /** Starts a fresh count. */
  start(): void {
    this.functions = {};
    this.frames = { in: 0, out: 0, bytesIn: 0, bytesOut: 0, units: 0 };
    this.eventSourceRequests = 0;
    this.counting = true;
  }

  stop(): MeterCounts {
    this.counting = false;
    return this.counts();
  }

  private fn(name: string | undefined): FunctionCounts {
    const key = name ?? NO_FUNCTION;
    this.functions[key] ??= {
      invocations: 0,
      durationMs: 0,
      gbSeconds: 0,
      logBytes: 0,
      calls: {},
      readUnits: 0,
      writeUnits: 0,
      capacity: {},
    };
    return this.functions[key];
  }

  awsRequest(request: AwsRequest): void {
    if (!this.counting) return;
    const calls = this.fn(request.functionName).calls;
    const name = operationName(request.client, request.command);
    calls[name] = (calls[name] ?? 0) + 1;
  }

  capacity(report: CapacityReport): void {
    if (!this.counting) return;
    const transaction = report.refused ? undefined : report.transactItems;
    const counted =
      transaction === undefined
        ? report
        : report.command === 'TransactGetItemsCommand'
          ? { readUnits: transaction * UNITS_PER_TRANSACTION_ITEM, writeUnits: 0 }
          : { readUnits: 0, writeUnits: transaction * UNITS_PER_TRANSACTION_ITEM };
    const counts = this.fn(report.functionName);
    const operation = operationName('DynamoDBClient', report.command);
    counts.capacity[operation] ??= { readUnits: 0, writeUnits: 0 };
    const units = counts.capacity[operation];
    for (const target of [counts, units]) {
      target.readUnits += counted.readUnits;
      target.writeUnits += counted.writeUnits;
    }
  }

  invocation(record: InvocationRecord): void {
    if (!this.counting) return;
    const counts = this.fn(record.functionName);
    counts.invocations++;
    counts.durationMs += record.durationMs;
    counts.gbSeconds += gbSeconds(record.durationMs, record.memoryMiB);
    if (record.records !== undefined && record.records > 0) this.eventSourceRequests += 2;
  }

  log(functionName: string, bytes: number): void {
    if (!this.counting) return;
    this.fn(functionName).logBytes += bytes;
  }

  /** A frame a client sent (`in` to API Gateway) or received (`out` of it). */
  frame(direction: 'in' | 'out', bytes: number): void {
    if (!this.counting) return;
    this.frames[direction]++;
    this.frames[direction === 'in' ? 'bytesIn' : 'bytesOut'] += bytes;
    this.frames.units += apiGatewayUnits(bytes);
  }

  counts(): MeterCounts {
    const functions = structuredClone(this.functions);
    const invocations = Object.values(functions).reduce((sum, fn) => sum + fn.invocations, 0);
    const ownLogBytes = Object.values(functions).reduce((sum, fn) => sum + fn.logBytes, 0);
    return {
      functions,
      frames: { ...this.frames },
      eventSourceRequests: this.eventSourceRequests,
      logBytes: ownLogBytes + invocations * PLATFORM_LOG_BYTES_PER_INVOCATION,
    };
  }
}

const S3_READS = new Set(['S3.GetObject', 'S3.HeadObject']);
const S3_WRITES = new Set(['S3.PutObject', 'S3.CopyObject', 'S3.ListObjectsV2', 'S3.ListObjects']);

/**
 * The priced usage of a count. PostToConnection has no price of its own: API Gateway bills it as the
 * outbound frame the client received, counted there. EventBridge counts one event per PutEvents.
 */
export function usageOf(counts: MeterCounts): Usage {
  const usage: Usage = {
    apiGatewayUnits: counts.frames.units,
    lambdaRequests: 0,
    lambdaGbSeconds: 0,
    readUnits: 0,
    writeUnits: 0,
    sqsRequests: counts.eventSourceRequests,
    logBytes: counts.logBytes,
    eventBridgeEvents: 0,
    s3ReadRequests: 0,
    s3WriteRequests: 0,
  };
  for (const fn of Object.values(counts.functions)) {
    usage.lambdaRequests += fn.invocations;
    usage.lambdaGbSeconds += fn.gbSeconds;
    usage.readUnits += fn.readUnits;
    usage.writeUnits += fn.writeUnits;
    for (const [operation, n] of Object.entries(fn.calls)) {
      if (operation.startsWith('SQS.')) usage.sqsRequests += n;
      else if (operation === 'EventBridge.PutEvents') usage.eventBridgeEvents += n;
      else if (S3_READS.has(operation)) usage.s3ReadRequests += n;
      else if (S3_WRITES.has(operation)) usage.s3WriteRequests += n;
    }
  }
  return usage;
}

/** One operation's requests and the capacity they consumed, all functions together. */
export interface OperationCounts {
  requests: number;
  readUnits: number;
  writeUnits: number;
}

/** Every SDK request of a count, by `Service.Operation`, all functions together. */
export function callsByOperation(counts: MeterCounts): Record<string, OperationCounts> {
  const total: Record<string, OperationCounts> = {};
  const entry = (operation: string) => (total[operation] ??= { requests: 0, readUnits: 0, writeUnits: 0 });
  for (const fn of Object.values(counts.functions)) {
    for (const [operation, n] of Object.entries(fn.calls)) entry(operation).requests += n;
    for (const [operation, units] of Object.entries(fn.capacity)) {
      entry(operation).readUnits += units.readUnits;
      entry(operation).writeUnits += units.writeUnits;
    }
  }
  return total;
}
