/**
 * The functions' own metrics (shared/metrics.ts) as CloudWatch reads them back: namespace
 * METRICS_NAMESPACE, one dimension, `service`. A metric is found only under its exact dimension set, so
 * every query here names that one dimension and no other.
 */
import type { Duration } from 'aws-cdk-lib';
import { type IMetric, MathExpression, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { METRIC, METRICS_NAMESPACE, type MetricKey, SERVICE_DIMENSION } from '../shared/metrics';

/** `key` as one function emits it, e.g. the fan-out's p99 lag. */
export function signalOf(key: MetricKey, service: string, statistic: string, period: Duration): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: METRIC[key].name,
    dimensionsMap: { [SERVICE_DIMENSION]: service },
    statistic,
    period,
  });
}

/**
 * `key` summed over every function that emits it (a Metrics Insights query), for signals several
 * functions record, such as `busy`; unlike a SEARCH, an alarm can watch it.
 */
export function signalTotal(key: MetricKey, period: Duration): IMetric {
  return new MathExpression({
    expression: `SELECT SUM(${METRIC[key].name}) FROM SCHEMA("${METRICS_NAMESPACE}", ${SERVICE_DIMENSION})`,
    label: METRIC[key].name,
    period,
  });
}

/**
 * One graph line per function that emits `key`, labelled with its `service` and the statistic: a SEARCH
 * finds the functions, so no list of emitters can drift from the code that records.
 */
export function signalByService(key: MetricKey, statistic: string, period: Duration): IMetric {
  const schema = `{${METRICS_NAMESPACE},${SERVICE_DIMENSION}}`;
  return new MathExpression({
    expression: `SEARCH('${schema} MetricName="${METRIC[key].name}"', '${statistic}', ${period.toSeconds()})`,
    label: `\${PROP('Dim.${SERVICE_DIMENSION}')} ${statistic}`,
    period,
  });
}
