/**
 * Operational signals as CloudWatch metrics. Powertools Metrics writes them in the Embedded Metric
 * Format: one structured log line per invocation, which CloudWatch turns into metrics with no API call on
 * the hot path. The dashboard and the alarms of the stack (lib/) read the same names from {@link METRIC}.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** The CloudWatch namespace of every metric below. */
export const METRICS_NAMESPACE = 'ServerlessChat';

/**
 * The one dimension of every metric: Powertools adds it from `serviceName`, and a CloudWatch metric is
 * found only under its exact dimension set, so the dashboard and the alarms ask for this one alone.
 */
export const SERVICE_DIMENSION = 'service';

/** The fan-out function's `serviceName`: its lag and failures are alarmed on under this `service`. */
export const FANOUT_SERVICE_NAME = 'chat-fanout';

/** Every metric the functions emit, with its CloudWatch name and unit. */
export const METRIC = {
  /** A frame answered `busy` (throttled, saturated, out of time): the client resends after `retryAfterMs`. */
  busy: { name: 'Busy', unit: MetricUnit.Count },
  /** A frame answered `rate_limited`: its sender is over a per-user limit. */
  rateLimited: { name: 'RateLimited', unit: MetricUnit.Count },
  /**
   * A connection the backend let go of: deleted after API Gateway answered 410 Gone, or closed because it
   * kept failing while others were reached, or for flooding.
   */
  connectionsEvicted: { name: 'ConnectionsEvicted', unit: MetricUnit.Count },
  /** A seq whose writer died, filled with a tombstone so that every seq resolves to one item (G2). */
  tombstonesFilled: { name: 'TombstonesFilled', unit: MetricUnit.Count },
  /**
   * A fan-out record whose own processing failed: SQS redelivers it, and after maxReceiveCount moves it to
   * the DLQ. The later records of its group, redelivered with it only because FIFO order holds them back,
   * are not counted.
   */
  fanoutFailures: { name: 'FanoutFailures', unit: MetricUnit.Count },
  /** A dead letter put back on the fan-out queue by the redrive function. */
  redriven: { name: 'Redriven', unit: MetricUnit.Count },
  /** Time from a fan-out record's event time (a message's `sentAt`, an edit's `editedAt`…) to its last post. */
  fanoutLag: { name: 'FanoutLag', unit: MetricUnit.Milliseconds },
} as const;

export type MetricKey = keyof typeof METRIC;

/** Where code records a signal: handlers pass {@link metricSinkOf} a Powertools `Metrics`, tests a fake. */
export interface MetricSink {
  record(metric: MetricKey, value?: number): void;
}

/** A sink that records into `metrics`; they are written when the invocation publishes them. */
export function metricSinkOf(metrics: Pick<Metrics, 'addMetric'>): MetricSink {
  return {
    record: (metric, value = 1) => {
      const { name, unit } = METRIC[metric];
      metrics.addMetric(name, unit, value);
    },
  };
}

/**
 * The function's Powertools `Metrics`, created once at module scope by its handler. Set
 * `POWERTOOLS_METRICS_DISABLED=true` to keep the EMF lines out of a log (the local runtime does).
 */
export function createMetrics(serviceName: string): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
}

/**
 * Wraps a handler so that what an invocation recorded is published when it ends, even when it throws.
 * An invocation that recorded nothing publishes nothing: Powertools would warn about it on every quiet
 * invocation, even with metrics disabled.
 */
export function withMetrics<E, C, R>(
  metrics: Pick<Metrics, 'publishStoredMetrics' | 'hasStoredMetrics'>,
  handler: (event: E, context: C) => Promise<R>,
): (event: E, context: C) => Promise<R> {
  return async (event, context) => {
    try {
      return await handler(event, context);
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
