/**
 * Which faults a run injects, and when: a seeded plan made before the run starts, one or two faults at a
 * time, each with a start and an end, all over before the workload's last stretch so the run ends with a
 * recovery to measure. Kinds are dealt from a shuffled deck, so a run tries every kind before it repeats one.
 */
import type { Random } from './prng';

/** A service whose calls the runtime can throttle or fail (local/faults.ts). */
export type FaultedService = 'dynamodb' | 'sqs' | 'management';
/** A point where the runtime can crash an invocation (local/faults.ts). */
export type ChaosCrashPoint =
  | 'send:after-seq-reserved'
  | 'send:after-store-before-enqueue'
  | 'fanout:mid-delivery';

export type PlannedFault = { startMs: number; endMs: number } & (
  | { kind: 'freeze-dynamodb' | 'freeze-queue' }
  | { kind: 'kill-sockets' | 'server-close' | 'resend-storm' | 'fanout-failing' }
  | { kind: 'crash'; point: ChaosCrashPoint; times: number }
  | { kind: 'throttle' | 'server-error'; service: FaultedService; times: number }
);

export type FaultKind = PlannedFault['kind'];

export interface ScheduleOptions {
  seconds: number;
  /** Whether the queue emulator runs in a process of its own, so it can be frozen. */
  queueFreezable: boolean;
}

const CRASH_POINTS: readonly ChaosCrashPoint[] = [
  'send:after-seq-reserved',
  'send:after-store-before-enqueue',
  'fanout:mid-delivery',
];
const SERVICES: readonly FaultedService[] = ['dynamodb', 'sqs', 'management'];

/** When the first fault may start: the workload has begun and every subscriber is listening. */
const FIRST_FAULT_MS = 2_000;

/**
 * The end of the fault window: the last stretch of the workload runs without faults, so every
 * conversation has messages to deliver after the last fault ends (its recovery time) and a dead
 * writer's seq is past its 15 s lease before the end (a reader then fills it).
 */
export const faultWindowEndMs = (seconds: number): number => Math.max(seconds * 1000 - 10_000, seconds * 700);

/** How long a fault of `kind` lasts: freezes up to 32 s in a long run (the outages the issue saw), shorter in a short one. */
function durationMs(kind: FaultKind, random: Random, seconds: number): number {
  const long = seconds >= 120;
  switch (kind) {
    case 'freeze-dynamodb':
    case 'freeze-queue':
      return random.int(1_000, long ? 32_000 : 4_000);
    case 'fanout-failing':
      // Long enough for a record to use up its receives (1 + 2 + 4 s of backoff at CHAOS_MAX_RECEIVE_COUNT 3).
      return random.int(8_000, long ? 20_000 : 10_000);
    default:
      return random.int(1_500, long ? 10_000 : 3_500);
  }
}

function planOne(kind: FaultKind, random: Random, startMs: number, endMs: number): PlannedFault {
  switch (kind) {
    case 'crash':
      return { kind, startMs, endMs, point: random.pick(CRASH_POINTS), times: random.int(1, 2) };
    case 'throttle':
    case 'server-error':
      return { kind, startMs, endMs, service: random.pick(SERVICES), times: random.int(3, 12) };
    default:
      return { kind, startMs, endMs };
  }
}

/** The plan of a run: faults in start order, none after {@link faultWindowEndMs}. */
export function planFaults(random: Random, options: ScheduleOptions): PlannedFault[] {
  const kinds: FaultKind[] = [
    'freeze-dynamodb',
    'kill-sockets',
    'server-close',
    'resend-storm',
    'crash',
    'crash',
    'throttle',
    'server-error',
    'fanout-failing',
    ...(options.queueFreezable ? (['freeze-queue'] as const) : []),
  ];
  let deck: FaultKind[] = [];
  const deal = (): FaultKind => {
    if (deck.length === 0) deck = random.shuffle(kinds);
    const kind = deck.pop();
    if (kind === undefined) throw new Error('The fault deck is empty');
    return kind;
  };
  const windowEnd = faultWindowEndMs(options.seconds);
  const plan: PlannedFault[] = [];
  let at = FIRST_FAULT_MS;
  while (at < windowEnd - 1_000) {
    const together = random.chance(0.5) ? 2 : 1;
    let slotEnd = at;
    const inSlot = new Set<FaultKind>();
    for (let i = 0; i < together; i++) {
      const kind = deal();
      // Two of one kind at once would be one fault twice; the other is dealt again later.
      if (inSlot.has(kind)) continue;
      inSlot.add(kind);
      const startMs = at + random.int(0, 500);
      const endMs = Math.min(startMs + durationMs(kind, random, options.seconds), windowEnd);
      plan.push(planOne(kind, random, startMs, endMs));
      slotEnd = Math.max(slotEnd, endMs);
    }
    at = slotEnd + random.int(500, options.seconds >= 120 ? 3_000 : 1_500);
  }
  return plan.sort((a, b) => a.startMs - b.startMs);
}

/** A fault in words, for the report. */
export function describeFault(fault: PlannedFault): string {
  switch (fault.kind) {
    case 'crash':
      return `crash at ${fault.point} (up to ${fault.times})`;
    case 'throttle':
    case 'server-error':
      return `${fault.kind} from ${fault.service} (up to ${fault.times} calls)`;
    default:
      return fault.kind;
  }
}
