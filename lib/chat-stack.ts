import { CfnOutput, Stack } from 'aws-cdk-lib';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Construct } from 'constructs';
import { ENV } from '../shared/env';
import type { TableName } from '../shared/tables';
import { AttachmentsBucket } from './attachments-bucket';
import { ChatAlarms } from './chat-alarms';
import { ChatApi } from './chat-api';
import { ChatAuth, type TokenIssuer } from './chat-auth';
import { ChatDashboard } from './chat-dashboard';
import { ChatFunction } from './chat-function';
import { ChatTables, constructId } from './chat-tables';
import { FanoutQueues } from './fanout-queues';
import { type ResolvedProps, resolveProps, type ServerlessChatStackProps } from './stack-props';
import { WebSecurityHeaders } from './web-security-headers';
import {
  AUTHORIZER,
  FANOUT_CONSUMER,
  FANOUT_QUEUE,
  FUNCTIONS,
  type FunctionName,
  type FunctionWiring,
  fanoutVisibilityTimeoutSeconds,
  SHARD_CONSUMER,
  SHARD_QUEUE,
  shardVisibilityTimeoutSeconds,
  type TableGrant,
} from './wiring';

export {
  DEFAULT_ROUTE_THROTTLES,
  DEFAULT_TABLE_THROUGHPUT,
  type RouteThrottle,
  SUGGESTED_RESERVED_CONCURRENCY,
  type TableThroughputCap,
} from './capacity';
export { DEFAULTS, type ServerlessChatStackProps, type ThrottleProps } from './stack-props';

type ChatFunctions = Record<FunctionName, ChatFunction>;

/**
 * serverless-chat: API Gateway WebSocket → Lambda → DynamoDB + SQS FIFO → fan-out Lambda →
 * postToConnection, with a FIFO dead-letter queue, a redrive function, alarms and a dashboard. Functions, grants,
 * environment variables and routes all come from lib/wiring.ts.
 */
export class ServerlessChatStack extends Stack {
  constructor(scope: Construct, id: string, props: ServerlessChatStackProps = {}) {
    super(scope, id, props);
    const config = resolveProps(props);

    const tables = this.createTables(config);
    const queues = this.createQueues(config);
    const shardQueues = this.createShardQueues();
    const attachments = this.createAttachments(props, config);
    const auth = this.createAuth(props, config);
    const offlineBus = this.createOfflineBus();
    const functions = this.createFunctions(
      tables,
      { fanout: queues, shards: shardQueues },
      attachments,
      offlineBus,
      auth.tokenIssuer,
      config,
    );
    const api = this.createApi(functions, config, props);
    this.createFanout(functions, queues, shardQueues, api, config);
    const alarms = this.createAlarms(functions, queues, shardQueues, config, props);
    const dashboard = this.createDashboard(functions, queues, alarms);
    this.createOutputs(tables, queues, shardQueues, attachments, auth, api, functions, alarms, dashboard);
    if (props.webSecurityHeaders) this.createWebSecurityHeaders(api, attachments);
  }

  private createTables(config: ResolvedProps): ChatTables {
    return new ChatTables(this, 'Tables', {
      removalPolicy: config.removalPolicy,
      throughput: config.capacity.tableThroughput,
    });
  }

  private createQueues(config: ResolvedProps): FanoutQueues {
    return new FanoutQueues(this, 'Fanout', {
      visibilityTimeoutSeconds: fanoutVisibilityTimeoutSeconds(),
      maxReceiveCount: config.maxReceiveCount,
    });
  }

  /** The FIFO queue pair of shard jobs (lambdas/fanout/split.ts), with the settings of lib/wiring.ts. */
  private createShardQueues(): FanoutQueues {
    return new FanoutQueues(this, 'FanoutShards', {
      visibilityTimeoutSeconds: shardVisibilityTimeoutSeconds(),
      maxReceiveCount: SHARD_QUEUE.defaultMaxReceiveCount,
    });
  }

  private createAttachments(props: ServerlessChatStackProps, config: ResolvedProps): AttachmentsBucket {
    return new AttachmentsBucket(this, 'Attachments', {
      removalPolicy: config.removalPolicy,
      ...props.attachments,
    });
  }

  private createAuth(props: ServerlessChatStackProps, config: ResolvedProps): ChatAuth {
    return new ChatAuth(this, 'Auth', {
      oidc: props.oidc,
      cognito: props.cognito,
      removalPolicy: config.removalPolicy,
    });
  }

  /**
   * The bus that names members a message reached on no live connection (source `serverless-chat`,
   * detail-type `MemberOffline`); a push-notification service adds its rule to it.
   */
  private createOfflineBus(): EventBus {
    return new EventBus(this, 'OfflineBus', { eventBusName: `${this.stackName}-chat-offline` });
  }

  /** One ChatFunction per FUNCTIONS entry, with exactly the grants and variables its wiring lists. */
  private createFunctions(
    tables: ChatTables,
    queues: { fanout: FanoutQueues; shards: FanoutQueues },
    attachments: AttachmentsBucket,
    offlineBus: EventBus,
    issuer: TokenIssuer,
    config: ResolvedProps,
  ): ChatFunctions {
    const entries = Object.entries(FUNCTIONS) as [FunctionName, FunctionWiring][];
    const functions = Object.fromEntries(
      entries.map(([name, wiring]) => {
        const fn = new ChatFunction(this, `${constructId(name)}Function`, {
          wiring,
          reservedConcurrency: config.capacity.reservedConcurrency[name],
          bundling: config.functionBundling,
        });
        for (const [table, grant] of Object.entries(wiring.tables) as [TableName, TableGrant][]) {
          fn.useTable(table, tables.tables[table], grant);
        }
        if (wiring.fanoutQueue) fn.useQueue(ENV.fanoutQueueUrl, queues.fanout.queue, wiring.fanoutQueue);
        if (wiring.deadLetterQueue) {
          fn.useQueue(ENV.deadLetterQueueUrl, queues.fanout.deadLetterQueue, wiring.deadLetterQueue);
        }
        if (wiring.shardQueue) fn.useQueue(ENV.shardQueueUrl, queues.shards.queue, wiring.shardQueue);
        // No variable: the function reads the shard DLQ from the shard queue's redrive policy.
        if (wiring.shardDeadLetterQueue) queues.shards.deadLetterQueue.grantConsumeMessages(fn);
        if (wiring.attachments) fn.useAttachments(attachments.bucket, wiring.attachments);
        if (wiring.eventBus) fn.useEventBus(offlineBus, wiring.eventBus);
        if (wiring.verifiesTokens) {
          fn.addEnvironment(ENV.jwtIssuer, issuer.issuer);
          fn.addEnvironment(ENV.jwtJwksUrl, issuer.jwksUrl);
          fn.addEnvironment(ENV.jwtAudience, issuer.audience);
          fn.addEnvironment(ENV.jwtMaxLifetimeSeconds, String(issuer.maxLifetimeSeconds));
        }
        return [name, fn];
      }),
    );
    return functions as ChatFunctions;
  }

  private createApi(
    functions: ChatFunctions,
    config: ResolvedProps,
    props: ServerlessChatStackProps,
  ): ChatApi {
    return new ChatApi(this, 'WebSocket', {
      functions,
      authorizer: functions[AUTHORIZER],
      stageName: config.stageName,
      throttle: { rateLimit: config.rateLimit, burstLimit: config.burstLimit },
      routeThrottles: config.capacity.routeThrottles,
      createCloudWatchRole: props.createApiGatewayCloudWatchRole,
    });
  }

  /**
   * The fan-out consumer reads the queue in FIFO batches, reports partial failures (so one failed group
   * does not replay the others) and may post to any connection of this stage, and nowhere else. The
   * shard worker reads the shard queue the same way, its jobs side by side.
   */
  private createFanout(
    functions: ChatFunctions,
    queues: FanoutQueues,
    shardQueues: FanoutQueues,
    api: ChatApi,
    config: ResolvedProps,
  ): void {
    const consumer = functions[FANOUT_CONSUMER];
    consumer.addEventSource(
      new SqsEventSource(queues.queue, {
        batchSize: FANOUT_QUEUE.batchSize,
        reportBatchItemFailures: FANOUT_QUEUE.reportBatchItemFailures,
        maxConcurrency: config.fanoutMaxConcurrency,
      }),
    );
    functions[SHARD_CONSUMER].addEventSource(
      new SqsEventSource(shardQueues.queue, {
        batchSize: SHARD_QUEUE.batchSize,
        reportBatchItemFailures: SHARD_QUEUE.reportBatchItemFailures,
        maxConcurrency: SHARD_QUEUE.defaultMaxConcurrency,
      }),
    );
    for (const [name, wiring] of Object.entries(FUNCTIONS) as [FunctionName, FunctionWiring][]) {
      if (wiring.managementApi) functions[name].useManagementApi(api.stage);
    }
  }

  private createAlarms(
    functions: ChatFunctions,
    queues: FanoutQueues,
    shardQueues: FanoutQueues,
    config: ResolvedProps,
    props: ServerlessChatStackProps,
  ): ChatAlarms {
    return new ChatAlarms(this, 'Alarms', {
      fanoutQueue: queues.queue,
      deadLetterQueue: queues.deadLetterQueue,
      shardDeadLetterQueue: shardQueues.deadLetterQueue,
      functions,
      oldestMessageAgeSeconds: config.oldestMessageAgeAlarmSeconds,
      signalAlarms: props.signalAlarms,
      email: props.alarmEmail,
    });
  }

  private createDashboard(functions: ChatFunctions, queues: FanoutQueues, alarms: ChatAlarms): ChatDashboard {
    return new ChatDashboard(this, 'Dashboard', {
      fanoutQueue: queues.queue,
      deadLetterQueue: queues.deadLetterQueue,
      functions,
      alarms: alarms.alarms,
    });
  }

  /** The deployed web page's headers, for a distribution this stack does not own. */
  private createWebSecurityHeaders(api: ChatApi, attachments: AttachmentsBucket): void {
    const headers = new WebSecurityHeaders(this, 'WebSecurityHeaders', {
      webSocketApi: api.api,
      attachmentsBucket: attachments.bucket,
    });
    new CfnOutput(this, 'WebResponseHeadersPolicyId', {
      value: headers.policy.responseHeadersPolicyId,
      description: 'CloudFront response-headers policy to attach to the behaviours that serve the web page',
    });
  }

  private createOutputs(
    tables: ChatTables,
    queues: FanoutQueues,
    shardQueues: FanoutQueues,
    attachments: AttachmentsBucket,
    auth: ChatAuth,
    api: ChatApi,
    functions: ChatFunctions,
    alarms: ChatAlarms,
    dashboard: ChatDashboard,
  ): void {
    const output = (id: string, value: string, description: string): void => {
      new CfnOutput(this, id, { value, description });
    };
    output('WebSocketUrl', api.stage.url, 'wss:// URL clients connect to, with ?token=<JWT>');
    output('ManagementEndpoint', api.stage.callbackUrl, 'https:// endpoint of the connection management API');
    for (const [name, table] of tables.all) {
      output(`${constructId(name)}TableName`, table.tableName, `DynamoDB table "${name}"`);
    }
    output('FanoutQueueUrl', queues.queue.queueUrl, 'FIFO fan-out queue URL');
    output('FanoutQueueName', queues.queue.queueName, 'FIFO fan-out queue name');
    output('DeadLetterQueueUrl', queues.deadLetterQueue.queueUrl, 'FIFO dead-letter queue URL');
    output('DeadLetterQueueName', queues.deadLetterQueue.queueName, 'FIFO dead-letter queue name');
    output('ShardQueueUrl', shardQueues.queue.queueUrl, 'FIFO queue of fan-out shard jobs');
    output(
      'ShardDeadLetterQueueArn',
      shardQueues.deadLetterQueue.queueArn,
      'Shard jobs that kept failing; redrive: invoke RedriveFunctionName with {"queue":"shards"}',
    );
    output(
      'RedriveFunctionName',
      functions.dlq.functionName,
      'Invoke to move dead letters back to fan-out; {"queue":"shards"} moves shard jobs back',
    );
    output('AlarmTopicArn', alarms.topic.topicArn, 'SNS topic that receives every alarm');
    output('DashboardName', dashboard.dashboard.dashboardName, 'CloudWatch dashboard of the chat');
    output('AttachmentsBucketName', attachments.bucket.bucketName, 'S3 bucket of message attachments');
    if (auth.userPool && auth.userPoolClient) {
      output('UserPoolId', auth.userPool.userPoolId, 'Cognito user pool that issues connect tokens');
      output(
        'UserPoolClientId',
        auth.userPoolClient.userPoolClientId,
        'Cognito app client of the web client',
      );
    }
  }
}
