/**
 * DynamoDB's own count of the capacity each request consumed, for the bench's bill. While nobody
 * observes, the middleware passes requests through untouched, so deployed functions ask for nothing
 * more; while an observer listens (the local bench), it asks every data-plane request for its TOTAL
 * consumed capacity and reports the units, per function, from DynamoDB's answer.
 */
import type { ConsumedCapacity } from '@aws-sdk/client-dynamodb';
import type { AbsoluteLocation, InitializeHandlerOptions, InitializeMiddleware } from '@smithy/types';
import { currentInvocation } from './invocation';

/** Capacity one DynamoDB request consumed, as its answer (or, for a refused write, the model) says. */
export interface CapacityReport {
  command: string;
  functionName: string | undefined;
  readUnits: number;
  writeUnits: number;
  /** A write DynamoDB refused: its units come from {@link refusedWriteUnits}, not from an answer. */
  refused: boolean;
  /** The items of a transaction (TransactWriteItems, TransactGetItems); undefined for other operations. */
  transactItems: number | undefined;
}

/** The operations that accept ReturnConsumedCapacity, each marked as a read or a write. */
const CAPACITY_OPERATIONS: Readonly<Record<string, 'read' | 'write'>> = {
  GetItemCommand: 'read',
  BatchGetItemCommand: 'read',
  QueryCommand: 'read',
  ScanCommand: 'read',
  TransactGetItemsCommand: 'read',
  PutItemCommand: 'write',
  UpdateItemCommand: 'write',
  DeleteItemCommand: 'write',
  BatchWriteItemCommand: 'write',
  TransactWriteItemsCommand: 'write',
};

const observers = new Set<(report: CapacityReport) => void>();

/** Calls `observer` with the consumed capacity of every DynamoDB request; returns the function that stops it. */
export function observeConsumedCapacity(observer: (report: CapacityReport) => void): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

/**
 * Read and write units of a `ConsumedCapacity` answer (one entry, or one per table for batches and
 * transactions). An entry that does not split its units is counted as the operation's `kind`.
 */
export function capacityUnits(
  consumed: ConsumedCapacity | ConsumedCapacity[] | undefined,
  kind: 'read' | 'write',
): { readUnits: number; writeUnits: number } {
  let readUnits = 0;
  let writeUnits = 0;
  for (const entry of Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed]) {
    if (entry.ReadCapacityUnits !== undefined || entry.WriteCapacityUnits !== undefined) {
      readUnits += entry.ReadCapacityUnits ?? 0;
      writeUnits += entry.WriteCapacityUnits ?? 0;
    } else if (kind === 'read') readUnits += entry.CapacityUnits ?? 0;
    else writeUnits += entry.CapacityUnits ?? 0;
  }
  return { readUnits, writeUnits };
}

/**
 * Write units DynamoDB bills for a write it refused, whose error carries no ConsumedCapacity: a failed
 * condition still costs the write (1 unit, items here being under 1 KB), and a cancelled transaction
 * its 2 units per item.
 */
export function refusedWriteUnits(errorName: string, input: { TransactItems?: unknown[] }): number {
  if (errorName === 'ConditionalCheckFailedException') return 1;
  if (errorName === 'TransactionCanceledException') return 2 * (input.TransactItems?.length ?? 1);
  return 0;
}

function report(
  command: string,
  input: { TransactItems?: unknown[] },
  units: Pick<CapacityReport, 'readUnits' | 'writeUnits' | 'refused'>,
): void {
  const functionName = currentInvocation()?.functionName;
  const transactItems = input.TransactItems?.length;
  for (const observer of observers) observer({ command, functionName, transactItems, ...units });
}

/**
 * The middleware of a DynamoDB client, added with {@link CONSUMED_CAPACITY_STEP}. It sits before
 * serialization, where the input can still ask for the capacity, and after the document client's
 * marshalling, whose output it leaves alone.
 */
export function consumedCapacityMiddleware<
  Input extends object,
  Output extends object,
>(): InitializeMiddleware<Input, Output> {
  return (next, context) => async (args) => {
    const command = String(context.commandName ?? 'command');
    const kind = CAPACITY_OPERATIONS[command];
    if (observers.size === 0 || kind === undefined) return next(args);
    const input = args.input as { ReturnConsumedCapacity?: string; TransactItems?: unknown[] };
    input.ReturnConsumedCapacity ??= 'TOTAL';
    try {
      const result = await next(args);
      const output = result.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] };
      report(command, input, { ...capacityUnits(output.ConsumedCapacity, kind), refused: false });
      return result;
    } catch (err: unknown) {
      const units = refusedWriteUnits(err instanceof Error ? err.name : '', input);
      if (units > 0) report(command, input, { readUnits: 0, writeUnits: units, refused: true });
      throw err;
    }
  };
}

/** Where {@link consumedCapacityMiddleware} goes in a DynamoDB client's middleware stack. */
export const CONSUMED_CAPACITY_STEP: InitializeHandlerOptions &
  AbsoluteLocation & { name: string; override: boolean } = {
  step: 'initialize',
  priority: 'low',
  name: 'consumedCapacity',
  override: true,
};
