import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { constructId } from './chat-tables';

export interface ChatAlarmsProps {
  /** The fan-out queue; its oldest message's age shows fan-out falling behind. */
  readonly fanoutQueue: IQueue;
  /** The dead-letter queue; any message in it is a message nobody received. */
  readonly deadLetterQueue: IQueue;
  /** Every function of the stack, by wiring name; each gets an error alarm. */
  readonly functions: Record<string, IFunction>;
  /** Age in seconds of the oldest fan-out message above which the backlog alarm fires. */
  readonly oldestMessageAgeSeconds: number;
  /**
   * An address that receives alarm notifications (it must confirm the subscription).
   * @default - no subscription; subscribe to the topic by other means
   */
  readonly email?: string;
}

/**
 * What an operator must hear about, all sent to one encrypted SNS topic: a message in the dead-letter queue
 * (G6), fan-out falling behind, and any function error.
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
  }

  private addAlarm(id: string, options: { metric: IMetric; threshold: number; description: string }): void {
    const alarm = new Alarm(this, id, {
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}
