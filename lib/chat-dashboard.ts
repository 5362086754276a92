import { Duration } from 'aws-cdk-lib';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  type IWidget,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC, type MetricKey } from '../shared/metrics';
import { signalByService } from './signal-metrics';

export interface ChatDashboardProps {
  /** The fan-out queue: the age of its oldest message is the backlog. */
  readonly fanoutQueue: IQueue;
  /** The dead-letter queue: its depth is messages nobody received yet. */
  readonly deadLetterQueue: IQueue;
  /** Every function of the stack, by wiring name: one line each on the errors and throttles graphs. */
  readonly functions: Record<string, IFunction>;
  /** Alarms shown as a status row above the graphs. */
  readonly alarms: readonly IAlarm[];
  /**
   * Period of every graph.
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
  /**
   * The dashboard's name.
   * @default - CloudFormation generates one
   */
  readonly dashboardName?: string;
}

/** What each graph of a function metric shows; a metric added to METRIC cannot be left off the dashboard. */
const SIGNAL_TITLES: Record<MetricKey, string> = {
  fanoutLag: 'Fan-out lag, event to last post (p50, p99)',
  fanoutFailures: 'Fan-out records failed (retried by SQS)',
  redriven: 'Dead letters redriven',
  busy: 'Frames answered busy',
  rateLimited: 'Frames answered rate_limited',
  connectionsEvicted: 'Connections let go of (gone, failing, flooding)',
  tombstonesFilled: 'Seqs filled with a tombstone (a writer died)',
};

/**
 * One CloudWatch dashboard of the chat: the alarms' states, then the fan-out (lag, failures, backlog,
 * dead letters, redrives), the clients (busy, rate-limited, evicted, tombstones) and the functions
 * (errors, throttles). The functions' own metrics are drawn per `service`, found by SEARCH.
 */
export class ChatDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: ChatDashboardProps) {
    super(scope, id);
    const period = props.period ?? Duration.minutes(5);
    const signal = (key: MetricKey): GraphWidget => {
      const statistics = METRIC[key].unit === METRIC.fanoutLag.unit ? ['p50', 'p99'] : ['Sum'];
      return graph(
        SIGNAL_TITLES[key],
        statistics.map((statistic) => signalByService(key, statistic, period)),
      );
    };
    const functions = Object.entries(props.functions);

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24 }),
    );
    this.dashboard.addWidgets(heading('Fan-out'));
    this.dashboard.addWidgets(
      signal('fanoutLag'),
      signal('fanoutFailures'),
      graph('Oldest queued fan-out message (s)', [
        props.fanoutQueue.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum' }),
      ]),
      graph('Dead letters waiting', [
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
      ]),
    );
    this.dashboard.addWidgets(signal('redriven'));
    this.dashboard.addWidgets(heading('Clients'));
    this.dashboard.addWidgets(
      signal('busy'),
      signal('rateLimited'),
      signal('connectionsEvicted'),
      signal('tombstonesFilled'),
    );
    this.dashboard.addWidgets(heading('Functions'));
    this.dashboard.addWidgets(
      graph(
        'Errors',
        functions.map(([label, fn]) => fn.metricErrors({ period, statistic: 'Sum', label })),
        12,
      ),
      graph(
        'Throttles',
        functions.map(([label, fn]) => fn.metricThrottles({ period, statistic: 'Sum', label })),
        12,
      ),
    );
  }
}

function graph(title: string, metrics: IMetric[], width = 6): GraphWidget {
  return new GraphWidget({ title, left: metrics, width, height: 6 });
}

function heading(text: string): IWidget {
  return new TextWidget({ markdown: `## ${text}`, width: 24, height: 1 });
}
