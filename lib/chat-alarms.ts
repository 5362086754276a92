import { Duration, Token } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FANOUT_SERVICE_NAME } from '../shared/metrics';
import { constructId } from './chat-tables';
import { signalOf, signalTotal } from './signal-metrics';

/**
 * Thresholds of the alarms on the functions' own metrics (shared/metrics.ts), each over five minutes.
 * Busy, rate-limited and evicted are informational: they show on the dashboard and notify no one, since
 * each is a normal answer to a client that pushes too hard or goes away.
 */
export interface SignalAlarmThresholds {
  /**
   * The fan-out's p99 lag in milliseconds, from a record's event time to its last post, above which the
   * lag alarm notifies.
   * @default 5000
   */
  readonly fanoutLagP99Ms?: number;
  /**
   * Fan-out records reported failed (SQS retries them) above which the failure alarm notifies.
   * @default 10
   */
  readonly fanoutFailures?: number;
  /**
   * Frames answered `busy` above which the informational alarm goes off.
   * @default 100
   */
  readonly busy?: number;
  /**
   * Frames answered `rate_limited` above which the informational alarm goes off.
   * @default 100
   */
  readonly rateLimited?: number;
  /**
   * Connections let go of (410 Gone, failing, flooding) above which the informational alarm goes off.
   * @default 100
   */
  readonly connectionsEvicted?: number;
}

export const SIGNAL_ALARM_DEFAULTS: Required<SignalAlarmThresholds> = {
  fanoutLagP99Ms: 5_000,
  fanoutFailures: 10,
  busy: 100,
  rateLimited: 100,
  connectionsEvicted: 100,
};

/** The window every alarm on the functions' own metrics sums or ranks over. */
const SIGNAL_PERIOD = Duration.minutes(5);

export interface ChatAlarmsProps {
  /** The fan-out queue; its oldest message's age shows fan-out falling behind. */
  readonly fanoutQueue: IQueue;
  /** The dead-letter queue; any message in it is a message nobody received. */
  readonly deadLetterQueue: IQueue;
  /**
   * The shard jobs' dead-letter queue; any job in it is a message one shard's connections did not get.
   * @default - no alarm on shard jobs
   */
  readonly shardDeadLetterQueue?: IQueue;
  /** Every function of the stack, by wiring name; each gets an error alarm. */
  readonly functions: Record<string, IFunction>;
  /** Age in seconds of the oldest fan-out message above which the backlog alarm fires. */
  readonly oldestMessageAgeSeconds: number;
  /**
   * Thresholds of the alarms on the functions' own metrics.
   * @default SIGNAL_ALARM_DEFAULTS
   */
  readonly signalAlarms?: SignalAlarmThresholds;
  /**
   * An address that receives alarm notifications (it must confirm the subscription).
   * @default - no subscription; subscribe to the topic by other means
   */
  readonly email?: string;
}

/**
 * What an operator must hear about, all sent to one encrypted SNS topic: a message in the dead-letter queue
 * (G6), fan-out falling behind or failing, a seq filled with a tombstone, and any function error; plus
 * informational alarms, sent nowhere, on busy, rate-limited and evicted clients.
 */
export class ChatAlarms extends Construct {
  readonly topic: Topic;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: ChatAlarmsProps) {
    super(scope, id);
    // A customer-managed key because CloudWatch cannot publish to a topic under the AWS-managed SNS key.
    const key = new Key(this, 'TopicKey', {
      description: 'Encrypts serverless-chat alarm notifications',
      enableKeyRotation: true,
    });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new Topic(this, 'Topic', { masterKey: key, enforceSSL: true });
    if (props.email) this.topic.addSubscription(new EmailSubscription(props.email));

    this.addAlarm('DeadLetters', {
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 0,
      description:
        'Fan-out messages reached the dead-letter queue: subscribers missed them. Fix, then redrive.',
    });
    if (props.shardDeadLetterQueue) {
      this.addAlarm('ShardDeadLetters', {
        metric: props.shardDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        threshold: 0,
        description:
          "Shard jobs reached the shard dead-letter queue: one shard's viewers missed a message. Fix, then redrive.",
      });
    }
    this.addAlarm('FanoutBacklog', {
      metric: props.fanoutQueue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: props.oldestMessageAgeSeconds,
      description: `Fan-out is falling behind: a queued message is older than ${props.oldestMessageAgeSeconds} s.`,
    });
    for (const [name, fn] of Object.entries(props.functions)) {
      this.addAlarm(`${constructId(name)}Errors`, {
        metric: fn.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }),
        threshold: 0,
        description: `The ${name} function failed at least once.`,
      });
    }
    this.addSignalAlarms(resolveSignalAlarms(props.signalAlarms));
  }

  /**
   * The fan-out's lag and failures come from the fan-out function alone; the others may be recorded by
   * any function, so they are summed over every `service`.
   */
  private addSignalAlarms(thresholds: Required<SignalAlarmThresholds>): void {
    this.addAlarm('FanoutLag', {
      metric: signalOf('fanoutLag', FANOUT_SERVICE_NAME, 'p99', SIGNAL_PERIOD),
      threshold: thresholds.fanoutLagP99Ms,
      description: `Fan-out is slow: p99 of event-to-last-post above ${thresholds.fanoutLagP99Ms} ms.`,
    });
    this.addAlarm('FanoutFailures', {
      metric: signalOf('fanoutFailures', FANOUT_SERVICE_NAME, 'Sum', SIGNAL_PERIOD),
      threshold: thresholds.fanoutFailures,
      description: `More than ${thresholds.fanoutFailures} fan-out records failed in 5 minutes; SQS retries them.`,
    });
    this.addAlarm('TombstonesFilled', {
      metric: signalTotal('tombstonesFilled', SIGNAL_PERIOD),
      threshold: 0,
      description:
        'A writer died between taking a seq and storing it; a reader filled the seq with a tombstone.',
    });
    const informational = [
      ['Busy', 'busy', 'frames were answered busy (throttled, saturated or out of time)'],
      ['RateLimited', 'rateLimited', 'frames were answered rate_limited (a sender over its limit)'],
      ['ConnectionsEvicted', 'connectionsEvicted', 'connections were let go of (gone, failing or flooding)'],
    ] as const;
    for (const [id, key, what] of informational) {
      this.addAlarm(id, {
        metric: signalTotal(key, SIGNAL_PERIOD),
        threshold: thresholds[key],
        description: `Informational: more than ${thresholds[key]} ${what} in 5 minutes.`,
        notify: false,
      });
    }
  }

  private addAlarm(
    id: string,
    options: { metric: IMetric; threshold: number; description: string; notify?: boolean },
  ): void {
    const alarm = new Alarm(this, id, {
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
    if (options.notify !== false) alarm.addAlarmAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}

/** Applies the defaults and refuses a threshold CloudWatch could never compare sensibly. */
function resolveSignalAlarms(given: SignalAlarmThresholds = {}): Required<SignalAlarmThresholds> {
  const keys = Object.keys(SIGNAL_ALARM_DEFAULTS) as (keyof SignalAlarmThresholds)[];
  const entries = keys.map((key) => {
    const value = given[key] ?? SIGNAL_ALARM_DEFAULTS[key];
    if (!Token.isUnresolved(value) && !(Number.isFinite(value) && value >= 0)) {
      throw new Error(`signalAlarms.${key} must be a number of at least 0; got ${value}`);
    }
    return [key, value];
  });
  return Object.fromEntries(entries) as Required<SignalAlarmThresholds>;
}
