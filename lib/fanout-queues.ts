import { Duration } from 'aws-cdk-lib';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface FanoutQueuesProps {
  /** Visibility timeout of the queue: six times its consumer's timeout (lib/wiring.ts). */
  readonly visibilityTimeoutSeconds: number;
  /** Receives of one message before it moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
}

/**
 * A FIFO fan-out queue and its FIFO dead-letter queue, used twice: the fan-out queue (one message group
 * per conversation, so fan-out keeps `seq` order) and the shard queue (one group per shard of a big
 * conversation, so each viewer keeps `seq` order while the shards run in parallel). The redrive
 * function (lambdas/dlq) empties either DLQ back into its queue, keeping message groups. Both are encrypted with SQS-managed keys and refuse requests
 * without TLS.
 */
export class FanoutQueues extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: FanoutQueuesProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      fifo: true,
      contentBasedDeduplication: false,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest retention SQS allows, so an operator has two weeks to fix the cause and redrive.
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      fifo: true,
      // Senders set an explicit deduplication id: two messages with the same body are still two messages.
      contentBasedDeduplication: false,
      // High-throughput FIFO: the 300 TPS limit applies per conversation instead of per queue.
      deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(props.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
  }
}
