/**
 * Injects one planned fault and ends it: freezes (SIGSTOP until its end, through the guardian), sockets
 * killed mid-send and closed by the server (the management API's DeleteConnection), resend storms, and the
 * runtime's own faults (local/faults.ts: crashes at named points, throttling and 5xx, a fan-out whose posts
 * keep failing so its records reach the dead-letter queue). Dead letters a fault made are redriven as soon
 * as it ends, while the load runs.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { FaultHandle } from '../local/faults';
import type { LocalRuntime } from '../local/runtime';
import type { Freezer } from './guardian';
import type { Random } from './prng';
import { describeFault, type PlannedFault } from './schedule';
import type { Sender } from './sender';
import type { RawSubscriber } from './subscriber';

/** A fault as it happened: when it really started and ended, and what it did. */
export interface InjectedFault {
  label: string;
  kind: PlannedFault['kind'];
  startedAt: number;
  endedAt: number;
  /** What it did, e.g. `3 sockets killed`, `fired 2`, `redrove 14`. */
  effect: string;
}

export interface FaultTargets {
  runtime: LocalRuntime;
  freezer: Freezer;
  senders: readonly Sender[];
  subscribers: readonly RawSubscriber[];
  management: ApiGatewayManagementApiClient;
  random: Random;
  /** Letters in the dead-letter queues now. */
  deadLetters: () => Promise<number>;
  /** Moves the dead-letter queues' letters back; answers how many moved. */
  redrive: () => Promise<number>;
}

/** Runs `act` every 0.8–1.6 s until `until`, counting what it did. */
async function repeatUntil(
  until: number,
  random: Random,
  act: () => Promise<number> | number,
): Promise<number> {
  let done = 0;
  while (Date.now() < until) {
    done += await act();
    await sleep(Math.max(0, Math.min(random.int(800, 1_600), until - Date.now())));
  }
  return done;
}

async function freeze(pid: number | undefined, targets: FaultTargets, until: number): Promise<string> {
  if (pid === undefined) return 'skipped: no process of its own to freeze';
  targets.freezer.freeze(pid);
  try {
    await sleep(Math.max(0, until - Date.now()));
  } finally {
    targets.freezer.resume(pid);
  }
  return `pid ${pid} stopped`;
}

async function withRule(handle: FaultHandle, until: number): Promise<string> {
  try {
    await sleep(Math.max(0, until - Date.now()));
  } finally {
    handle.remove();
  }
  return `fired ${handle.fired}`;
}

async function closeFromServer(targets: FaultTargets, until: number): Promise<string> {
  const closed = await repeatUntil(until, targets.random, async () => {
    const ids = targets.runtime.api.connectionIds();
    if (ids.length === 0) return 0;
    try {
      await targets.management.send(new DeleteConnectionCommand({ ConnectionId: targets.random.pick(ids) }));
      return 1;
    } catch {
      // Gone meanwhile: nothing closed.
      return 0;
    }
  });
  return `${closed} connections closed by the server`;
}

async function killSockets(targets: FaultTargets, until: number): Promise<string> {
  const { random } = targets;
  const killed = await repeatUntil(until, random, () => {
    random.pick(targets.senders).killAfterNextSend();
    if (!random.chance(0.3)) return 1;
    random.pick(targets.subscribers).kill();
    return 2;
  });
  return `${killed} sockets killed client-side (senders right after a send)`;
}

async function storm(targets: FaultTargets, until: number): Promise<string> {
  const stormers = targets.random.shuffle(targets.senders).slice(0, Math.ceil(targets.senders.length / 2));
  const copies = targets.random.int(3, 12);
  for (const sender of stormers) sender.storm = copies;
  try {
    await sleep(Math.max(0, until - Date.now()));
  } finally {
    for (const sender of stormers) sender.storm = 0;
  }
  return `${stormers.length} senders sent ${copies} extra copies of each send`;
}

/** The fan-out's posts fail until `until`, so its records keep failing and reach the dead-letter queue. */
function failFanout(targets: FaultTargets, until: number): Promise<string> {
  const handle = targets.runtime.faults.inject({
    service: 'management',
    command: 'PostToConnectionCommand',
    functionName: 'fanout',
    effect: 'server-error',
    label: 'fan-out posts failing',
  });
  return withRule(handle, until);
}

function act(plan: PlannedFault, targets: FaultTargets, until: number): Promise<string> {
  const { runtime } = targets;
  switch (plan.kind) {
    case 'freeze-dynamodb':
      return freeze(runtime.processes.dynamoDb, targets, until);
    case 'freeze-queue':
      return freeze(runtime.processes.queueEmulator, targets, until);
    case 'kill-sockets':
      return killSockets(targets, until);
    case 'server-close':
      return closeFromServer(targets, until);
    case 'resend-storm':
      return storm(targets, until);
    case 'crash':
      return withRule(runtime.faults.crashAt(plan.point, plan.times), until);
    case 'throttle':
    case 'server-error':
      return withRule(
        runtime.faults.inject({ service: plan.service, effect: plan.kind, times: plan.times }),
        until,
      );
    case 'fanout-failing':
      return failFanout(targets, until);
  }
}

/**
 * A redrive while the load and the other faults run. It may meet an injected fault itself (a 5xx from SQS
 * outlasting its retries), as an operator's redrive may: the letters then stay for the next redrive, and the
 * run goes on.
 */
async function redriveUnderLoad(targets: FaultTargets): Promise<string> {
  try {
    return `redrove ${await targets.redrive()} dead letters under load`;
  } catch (err: unknown) {
    return `a redrive under load failed (${err instanceof Error ? err.message : String(err)}); its letters wait for the next`;
  }
}

/** Waits for the fault's start (relative to `t0`), injects it, ends it at its end, and tells what happened. */
export async function runFault(
  plan: PlannedFault,
  targets: FaultTargets,
  t0: number,
): Promise<InjectedFault> {
  await sleep(Math.max(0, t0 + plan.startMs - Date.now()));
  const startedAt = Date.now();
  const effect = await act(plan, targets, t0 + plan.endMs);
  const endedAt = Date.now();
  // Dead letters the fault made go back while the load runs, as an operator answering the DLQ alarm would
  // redrive them. A failing fan-out's records reach the DLQ up to one backoff after it ends: wait for them.
  const waitMs = plan.kind === 'fanout-failing' ? 6_000 : 0;
  let letters = await targets.deadLetters();
  while (letters === 0 && Date.now() < endedAt + waitMs) {
    await sleep(500);
    letters = await targets.deadLetters();
  }
  const redriven = letters > 0 ? `; ${await redriveUnderLoad(targets)}` : '';
  return { label: describeFault(plan), kind: plan.kind, startedAt, endedAt, effect: effect + redriven };
}
