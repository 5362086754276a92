/**
 * The route kit's deps for tests that build a handler with `createActionHandler` directly: a silent
 * logger, a fixed clock, the connections' frame rate, a disconnect that records its calls and a sink
 * that keeps what it was told to count.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { type Mock, vi } from 'vitest';
import type { MetricKey, MetricSink } from '../../shared/metrics';
import type { DisconnectFn } from '../../shared/poster';
import { CONNECTION_FRAME_RATE, type RouteKitDeps } from '../../shared/route-kit';

/** When the clock of {@link routeKitDeps} says it is, unless a test says otherwise. */
export const KIT_NOW = 1_000_000;

/** A sink that keeps every metric it was told, in order. */
export function recordingSink(): MetricSink & { recorded: MetricKey[] } {
  const recorded: MetricKey[] = [];
  return { recorded, record: (metric) => recorded.push(metric) };
}

/** Route kit deps for a test; `sink` is the `metrics` they count into. */
export function routeKitDeps(
  overrides: Partial<RouteKitDeps> = {},
): RouteKitDeps & { sink: ReturnType<typeof recordingSink> } {
  const sink = recordingSink();
  return {
    logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
    clock: () => KIT_NOW,
    frameRate: CONNECTION_FRAME_RATE,
    disconnect: vi.fn(async () => {}),
    metrics: sink,
    sink,
    ...overrides,
  };
}

/** The route kit's part of a function's deps, faked: a disconnect and a sink that record their calls. */
export function routeKitFakes(): { disconnect: DisconnectFn & Mock; metrics: { record: Mock } } {
  return { disconnect: vi.fn(async () => {}), metrics: { record: vi.fn() } };
}
