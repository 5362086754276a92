/**
 * Capacity that one client cannot take from the others: per-route throttles on the WebSocket stage,
 * reserved concurrency per function, and a throughput cap on every table. The props, their defaults and
 * the checks that refuse conflicting values at synth live here; lib/stack-props.ts resolves them with
 * the rest of the stack's props.
 */
import { Token } from 'aws-cdk-lib';
import type { TableName } from '../shared/tables';
import { FANOUT_CONSUMER, FUNCTIONS, type FunctionName, ROUTES, type RouteKey } from './wiring';

/** Steady rate and burst of one route of the stage, across all clients. */
export interface RouteThrottle {
  /** Steady-state requests per second. */
  readonly rateLimit: number;
  /** Requests allowed in a burst above the steady rate (a whole number). */
  readonly burstLimit: number;
}

/**
 * Route throttles applied unless a route's entry in the `routeThrottles` prop replaces them. They keep
 * one route from taking the whole stage: `$connect` runs the authorizer on every attempt (garbage
 * tokens included) and then the connect function, `send` writes three tables and enqueues, and
 * `listConversations`, `history` and `presence` are the reads whose cost grows with the caller's data.
 * Every other route has the stage's default throttle (`throttle`).
 */
export const DEFAULT_ROUTE_THROTTLES: Readonly<Partial<Record<RouteKey, RouteThrottle>>> = {
  $connect: { rateLimit: 20, burstLimit: 40 },
  send: { rateLimit: 50, burstLimit: 100 },
  listConversations: { rateLimit: 5, burstLimit: 10 },
  history: { rateLimit: 20, burstLimit: 40 },
  presence: { rateLimit: 10, burstLimit: 20 },
};

/** Most read and write request units a second of one table (and of each of its indexes). */
export interface TableThroughputCap {
  /** Read request units per second, 1 or more. */
  readonly maxReadRequestUnits: number;
  /** Write request units per second, 1 or more. */
  readonly maxWriteRequestUnits: number;
}

/**
 * The on-demand throughput cap of every table unless the `tableThroughput` prop names another: well
 * under the 40,000 units a second a new account may use per table. It bounds a runaway (a loop, a
 * redrive storm, a flood the throttles let through) and the bill; it is not derived from the throttles,
 * so raise it with them when traffic grows (requests over it are answered `busy`).
 */
export const DEFAULT_TABLE_THROUGHPUT: TableThroughputCap = {
  maxReadRequestUnits: 1_000,
  maxWriteRequestUnits: 500,
};

/**
 * A reserved-concurrency layout for an account whose regional Lambda concurrency is 1,000 (the usual
 * limit once raised): the authorizer and the fan-out keep their share whatever the routes do, and no
 * route function can take more than its own. It reserves 361 executions, leaving more than the 100
 * unreserved that AWS requires. Pass it (or your own) as the `reservedConcurrency` prop.
 */
export const SUGGESTED_RESERVED_CONCURRENCY: Readonly<Record<FunctionName, number>> = {
  authorizer: 50,
  connect: 50,
  send: 100,
  conversations: 100,
  attachments: 20,
  fanout: 20,
  // SHARD_QUEUE.defaultMaxConcurrency: the shard event source never asks for more.
  fanoutShard: 20,
  dlq: 1,
};

/** The capacity props with their defaults applied. */
export interface ResolvedCapacity {
  readonly routeThrottles: Readonly<Partial<Record<RouteKey, RouteThrottle>>>;
  readonly reservedConcurrency: Readonly<Partial<Record<FunctionName, number>>>;
  readonly tableThroughput: Readonly<Record<TableName, TableThroughputCap>>;
}

/** The capacity props as a caller gives them (see ServerlessChatStackProps for their TSDoc). */
export interface CapacityProps {
  readonly routeThrottles?: Partial<Record<string, RouteThrottle>>;
  readonly reservedConcurrency?: Partial<Record<string, number>>;
  readonly tableThroughput?: Partial<TableThroughputCap>;
  readonly tableThroughputOverrides?: Partial<Record<string, Partial<TableThroughputCap>>>;
}

/**
 * Applies the defaults and refuses, with a message naming the prop, values AWS would reject or that
 * defeat the point: an unknown route or function, a throttle or cap below 1, a reservation of 0 (which
 * turns a function off), a fan-out reservation below `fanoutMaxConcurrency` (the event source would be
 * throttled and messages would move to the dead-letter queue), and a reservation that leaves the
 * authorizer or the fan-out in the shared pool the reserved functions no longer take from.
 */
export function resolveCapacity(
  props: CapacityProps,
  tables: readonly TableName[],
  fanoutMaxConcurrency: number,
): ResolvedCapacity {
  const routeThrottles = { ...DEFAULT_ROUTE_THROTTLES, ...props.routeThrottles };
  for (const [route, throttle] of Object.entries(routeThrottles)) {
    if (!(route in ROUTES)) {
      throw new Error(
        `routeThrottles.${route}: no such route; the routes are ${Object.keys(ROUTES).join(', ')}`,
      );
    }
    if (throttle === undefined) continue;
    requirePositive(`routeThrottles.${route}.rateLimit`, throttle.rateLimit);
    requireWhole(`routeThrottles.${route}.burstLimit`, throttle.burstLimit);
  }

  const reservedConcurrency = { ...props.reservedConcurrency };
  for (const [name, reserved] of Object.entries(reservedConcurrency)) {
    if (!(name in FUNCTIONS)) {
      throw new Error(
        `reservedConcurrency.${name}: no such function; the functions are ${Object.keys(FUNCTIONS).join(', ')}`,
      );
    }
    if (reserved === undefined) continue;
    requireWhole(`reservedConcurrency.${name}`, reserved);
  }
  const reservedNames = Object.keys(reservedConcurrency);
  if (reservedNames.length > 0) {
    const unprotected = (['authorizer', FANOUT_CONSUMER] as const).filter(
      (name) => reservedConcurrency[name] === undefined,
    );
    if (unprotected.length > 0) {
      throw new Error(
        `reservedConcurrency reserves ${reservedNames.join(', ')} but not ${unprotected.join(' or ')}: ` +
          'every reservation shrinks the shared pool the unreserved functions run in, so reserve them too ' +
          '(see SUGGESTED_RESERVED_CONCURRENCY in lib/capacity.ts).',
      );
    }
  }
  const fanoutReserved = reservedConcurrency[FANOUT_CONSUMER];
  if (
    fanoutReserved !== undefined &&
    !Token.isUnresolved(fanoutReserved) &&
    fanoutReserved < fanoutMaxConcurrency
  ) {
    throw new Error(
      `reservedConcurrency.${FANOUT_CONSUMER} (${fanoutReserved}) is below fanoutMaxConcurrency (${fanoutMaxConcurrency}): ` +
        'the queue event source would be throttled and fan-out messages would move to the dead-letter queue. ' +
        'Reserve at least fanoutMaxConcurrency, or lower it.',
    );
  }

  const overrides = props.tableThroughputOverrides ?? {};
  for (const name of Object.keys(overrides)) {
    if (!tables.includes(name as TableName)) {
      throw new Error(`tableThroughputOverrides.${name}: no such table; the tables are ${tables.join(', ')}`);
    }
  }
  const base = { ...DEFAULT_TABLE_THROUGHPUT, ...props.tableThroughput };
  const tableThroughput = Object.fromEntries(
    tables.map((name) => {
      const cap = { ...base, ...overrides[name] };
      requireWhole(`tableThroughput (${name}).maxReadRequestUnits`, cap.maxReadRequestUnits);
      requireWhole(`tableThroughput (${name}).maxWriteRequestUnits`, cap.maxWriteRequestUnits);
      return [name, cap];
    }),
  ) as Record<TableName, TableThroughputCap>;

  return { routeThrottles, reservedConcurrency, tableThroughput };
}

function requirePositive(name: string, value: number): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name} must be a number above 0; got ${value}`);
}

function requireWhole(name: string, value: number): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a whole number of at least 1; got ${value}`);
}
