/**
 * The dashboard and the alarms on the functions' own metrics: each must ask CloudWatch for exactly the
 * namespace, name and `service` dimension Powertools writes (shared/metrics.ts), or it shows nothing.
 */
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { SIGNAL_ALARM_DEFAULTS } from '../../lib/chat-alarms';
import { ServerlessChatStack, type ServerlessChatStackProps } from '../../lib/chat-stack';
import { FUNCTIONS } from '../../lib/wiring';
import {
  FANOUT_SERVICE_NAME,
  METRIC,
  METRICS_NAMESPACE,
  type MetricKey,
  SERVICE_DIMENSION,
} from '../../shared/metrics';

function synth(props: ServerlessChatStackProps = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return Template.fromStack(new ServerlessChatStack(app, 'Test', props));
}

interface Widget {
  type: string;
  properties: { alarms?: string[]; metrics?: unknown[][] };
}

/** The dashboard's widgets, each CloudFormation reference in its body replaced by `REF`. */
function widgetsOf(template: Template): Widget[] {
  const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  if (dashboard === undefined) throw new Error('the stack has no dashboard');
  const [, parts] = dashboard.Properties.DashboardBody['Fn::Join'] as [string, unknown[]];
  const body = parts.map((part) => (typeof part === 'string' ? part : 'REF')).join('');
  return (JSON.parse(body) as { widgets: Widget[] }).widgets;
}

const metricLines = (widgets: Widget[]): unknown[][] => widgets.flatMap((w) => w.properties.metrics ?? []);

const metricKeys = Object.keys(METRIC) as MetricKey[];
const notifiesTopic = { AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmsTopic') }] };
const totalOf = (key: MetricKey): string =>
  `SELECT SUM(${METRIC[key].name}) FROM SCHEMA("${METRICS_NAMESPACE}", ${SERVICE_DIMENSION})`;

describe('dashboard', () => {
  let template: Template;
  let widgets: Widget[];
  beforeAll(() => {
    template = synth();
    widgets = widgetsOf(template);
  });

  it.each(metricKeys)('graphs %s per service, searched under the service dimension alone', (key) => {
    const expressions = metricLines(widgets).map((line) => (line[0] as { expression?: string }).expression);

    expect(expressions).toContainEqual(
      expect.stringContaining(
        `SEARCH('{${METRICS_NAMESPACE},${SERVICE_DIMENSION}} MetricName="${METRIC[key].name}"'`,
      ),
    );
  });

  it('graphs the fan-out backlog age and the dead letters waiting', () => {
    const lines = metricLines(widgets);

    expect(lines).toContainEqual([
      'AWS/SQS',
      'ApproximateAgeOfOldestMessage',
      'QueueName',
      'REF',
      expect.anything(),
    ]);
    expect(lines).toContainEqual([
      'AWS/SQS',
      'ApproximateNumberOfMessagesVisible',
      'QueueName',
      'REF',
      expect.anything(),
    ]);
  });

  it.each(['Errors', 'Throttles'])('graphs the %s of every function, one line each', (metricName) => {
    const lines = metricLines(widgets).filter((line) => line[0] === 'AWS/Lambda' && line[1] === metricName);

    expect(lines.map((line) => (line[4] as { label: string }).label).sort()).toEqual(
      Object.keys(FUNCTIONS).sort(),
    );
  });

  it('shows the state of every alarm of the stack', () => {
    const shown = widgets.filter((w) => w.type === 'alarm').flatMap((w) => w.properties.alarms ?? []);

    expect(shown).toHaveLength(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).length);
  });

  it('names the dashboard in a stack output', () => {
    template.hasOutput('DashboardName', { Value: { Ref: Match.stringLikeRegexp('Dashboard') } });
  });

  it('grants no function cloudwatch:PutMetricData: the metrics are log lines (EMF)', () => {
    const actions = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
      (policy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap(
        (s) => s.Action,
      ),
    );

    expect(actions.filter((action) => action.startsWith('cloudwatch:'))).toEqual([]);
  });
});

describe('alarms on the functions own metrics', () => {
  let template: Template;
  beforeAll(() => {
    template = synth();
  });

  it("notifies when the fan-out's p99 lag passes 5 s", () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.fanoutLag.name,
      Dimensions: [{ Name: SERVICE_DIMENSION, Value: FANOUT_SERVICE_NAME }],
      ExtendedStatistic: 'p99',
      Period: 300,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: SIGNAL_ALARM_DEFAULTS.fanoutLagP99Ms,
      ...notifiesTopic,
    });
    expect(SIGNAL_ALARM_DEFAULTS.fanoutLagP99Ms).toBe(5_000);
  });

  it('notifies when more than 10 fan-out records fail in 5 minutes', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.fanoutFailures.name,
      Dimensions: [{ Name: SERVICE_DIMENSION, Value: FANOUT_SERVICE_NAME }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 10,
      ...notifiesTopic,
    });
  });

  it('notifies on the first tombstone any function fills: a writer died', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: [Match.objectLike({ Expression: totalOf('tombstonesFilled'), Period: 300 })],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      TreatMissingData: 'notBreaching',
      ...notifiesTopic,
    });
  });

  it.each<MetricKey>(['busy', 'rateLimited', 'connectionsEvicted'])(
    'keeps an informational alarm on %s summed over every function, notifying no one',
    (key) => {
      const found = template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { Metrics: [Match.objectLike({ Expression: totalOf(key) })] },
      });

      const alarms = Object.values(found).map((alarm) => alarm.Properties);
      expect(alarms).toEqual([expect.objectContaining({ Threshold: 100 })]);
      expect(alarms[0]).not.toHaveProperty('AlarmActions');
    },
  );
});

describe('alarms on the functions own metrics, with thresholds set', () => {
  let template: Template;
  beforeAll(() => {
    template = synth({ signalAlarms: { fanoutLagP99Ms: 2_000, busy: 5, rateLimited: undefined } });
  });

  it('uses the thresholds given and the defaults for the rest', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: METRIC.fanoutLag.name,
      Threshold: 2_000,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: [Match.objectLike({ Expression: totalOf('busy') })],
      Threshold: 5,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: [Match.objectLike({ Expression: totalOf('rateLimited') })],
      Threshold: SIGNAL_ALARM_DEFAULTS.rateLimited,
    });
  });

  it('refuses a negative threshold with a message naming it', () => {
    expect(() => synth({ signalAlarms: { connectionsEvicted: -1 } })).toThrow(
      /signalAlarms\.connectionsEvicted must be a number of at least 0; got -1/,
    );
  });
});
