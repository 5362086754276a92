/**
 * The metrics sink as CloudWatch reads it: EMF lines whose namespace, metric names and `service`
 * dimension are exactly what the dashboard and alarms of the stack ask for.
 */
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import {
  createMetrics,
  METRIC,
  METRICS_NAMESPACE,
  metricSinkOf,
  SERVICE_DIMENSION,
  withMetrics,
} from '../../shared/metrics';

interface EmfLine {
  _aws: {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

let stdout: MockInstance<typeof process.stdout.write>;
let stderr: MockInstance<typeof process.stderr.write>;

/** The EMF lines written to stdout so far. */
const emfLines = (): EmfLine[] => stdout.mock.calls.map(([chunk]) => JSON.parse(String(chunk)) as EmfLine);

beforeEach(() => {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', undefined);
  vi.stubEnv('POWERTOOLS_DEV', undefined);
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('metricSinkOf', () => {
  it.each(Object.keys(METRIC) as (keyof typeof METRIC)[])(
    'records %s under its name and unit, in the namespace, with the service as the only dimension',
    (key) => {
      // Prepare
      const metrics = createMetrics('chat-test');

      // Act
      metricSinkOf(metrics).record(key, 3);

      // Assess
      const { name, unit } = METRIC[key];
      expect(metrics.serializeMetrics()).toEqual({
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: METRICS_NAMESPACE,
              Dimensions: [[SERVICE_DIMENSION]],
              Metrics: [{ Name: name, Unit: unit }],
            },
          ],
        },
        [SERVICE_DIMENSION]: 'chat-test',
        [name]: 3,
      });
    },
  );

  it('counts one when no value is given', () => {
    // Prepare
    const metrics = createMetrics('chat-test');

    // Act
    metricSinkOf(metrics).record('busy');

    // Assess
    expect(metrics.serializeMetrics()).toMatchObject({ [METRIC.busy.name]: 1 });
  });
});

describe('withMetrics', () => {
  it('writes what an invocation recorded as one EMF line on stdout when it ends', async () => {
    // Prepare
    const metrics = createMetrics('chat-test');
    const sink = metricSinkOf(metrics);
    const handler = withMetrics(metrics, async (event: { evicted: number }) => {
      sink.record('connectionsEvicted', event.evicted);
      return 'done';
    });

    // Act
    const result = await handler({ evicted: 2 }, {});

    // Assess
    expect(result).toBe('done');
    expect(emfLines()).toEqual([expect.objectContaining({ [METRIC.connectionsEvicted.name]: 2 })]);
    expect(emfLines()[0]?._aws.CloudWatchMetrics[0]?.Namespace).toBe(METRICS_NAMESPACE);
  });

  it('writes what was recorded even when the invocation throws, and rethrows', async () => {
    // Prepare
    const metrics = createMetrics('chat-test');
    const sink = metricSinkOf(metrics);
    const handler = withMetrics(metrics, async () => {
      sink.record('fanoutFailures');
      throw new Error('boom');
    });

    // Act
    const outcome = handler(undefined, {});

    // Assess
    await expect(outcome).rejects.toThrow('boom');
    expect(emfLines()).toEqual([expect.objectContaining({ [METRIC.fanoutFailures.name]: 1 })]);
  });

  it('writes nothing, not even a warning, for an invocation that recorded nothing', async () => {
    // Prepare
    const handler = withMetrics(createMetrics('chat-test'), async () => 'quiet');

    // Act
    await handler(undefined, {});

    // Assess
    expect(stdout).not.toHaveBeenCalled();
    expect(stderr).not.toHaveBeenCalled();
  });

  it('writes nothing when POWERTOOLS_METRICS_DISABLED is set, as the local runtime sets it', async () => {
    // Prepare
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    const metrics = createMetrics('chat-test');
    const sink = metricSinkOf(metrics);
    const handler = withMetrics(metrics, async () => sink.record('busy'));

    // Act
    await handler(undefined, {});

    // Assess
    expect(stdout).not.toHaveBeenCalled();
    expect(metrics.hasStoredMetrics()).toBe(false);
  });
});
