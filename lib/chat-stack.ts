import { CfnOutput, RemovalPolicy, Stack, type StackProps, Token } from 'aws-cdk-lib';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Construct } from 'constructs';
import { ENV } from '../shared/env';
import type { TableName } from '../shared/tables';
import { AttachmentsBucket, type AttachmentsBucketProps } from './attachments-bucket';
import { ChatAlarms, type SignalAlarmThresholds } from './chat-alarms';
import { ChatApi } from './chat-api';
import { ChatAuth, type CognitoAuthProps, type OidcIssuerProps, type TokenIssuer } from './chat-auth';
import { ChatDashboard } from './chat-dashboard';
import { ChatFunction } from './chat-function';
import { ChatTables, constructId } from './chat-tables';
import { FanoutQueues } from './fanout-queues';
import {
  AUTHORIZER,
  FANOUT_CONSUMER,
  FANOUT_QUEUE,
  FUNCTIONS,
  type FunctionName,
  type FunctionWiring,
  fanoutVisibilityTimeoutSeconds,
  type TableAccess,
} from './wiring';

/** Stage-wide throttling of the WebSocket API. */
export interface ThrottleProps {
  /**
   * Steady-state requests (connects and messages) per second across the stage.
   * @default 100
   */
  readonly rateLimit?: number;
  /**
   * Requests allowed in a burst above the steady rate.
   * @default 200
   */
  readonly burstLimit?: number;
}

export interface ServerlessChatStackProps extends StackProps {
  /**
   * Stage-wide throttling of the WebSocket API.
   * @default { rateLimit: 100, burstLimit: 200 }
   */
  readonly throttle?: ThrottleProps;
  /**
   * How often fan-out may fail on a message before it moves to the dead-letter queue (1–1000).
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * Most concurrent fan-out functions the queue event source invokes (2–1000, the AWS range). FIFO order
   * holds regardless: one message group (conversation) is never processed by two invocations at once.
   * @default 10
   */
  readonly fanoutMaxConcurrency?: number;
  /**
   * Trust an existing OpenID Connect issuer instead of creating a Cognito user pool. Must not be combined
   * with `cognito`.
   * @default - a Cognito user pool and browser app client are created
   */
  readonly oidc?: OidcIssuerProps;
  /**
   * Settings of the Cognito user pool the stack creates. Must not be combined with `oidc`.
   * @default - invitation-only pool with threat protection, optional TOTP MFA
   */
  readonly cognito?: CognitoAuthProps;
  /**
   * An address subscribed to the alarm topic (it must confirm the subscription).
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * Age in seconds of the oldest fan-out message above which the backlog alarm fires.
   * @default 60
   */
  readonly oldestMessageAgeAlarmSeconds?: number;
  /**
   * Thresholds of the alarms on the functions' own metrics (fan-out lag and failures, busy, rate-limited,
   * evicted connections).
   * @default SIGNAL_ALARM_DEFAULTS (lib/chat-alarms.ts)
   */
  readonly signalAlarms?: SignalAlarmThresholds;
  /**
   * What happens to the tables and the user pool when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * The WebSocket stage name: the last path segment of the wss:// and management URLs.
   * @default 'prod'
   */
  readonly stageName?: string;
  /**
   * Create the account-wide role API Gateway needs to write access logs. Each account and region needs it
   * once; leave it off when another stack (or the console) already set it, or deployment of the stage fails
   * with "CloudWatch Logs role ARN must be set in account settings".
   * @default false
   */
  readonly createApiGatewayCloudWatchRole?: boolean;
  /**
   * The attachments bucket: CORS origins, expiry of objects, and its removal policy (which otherwise
   * follows `removalPolicy`).
   * @default every origin, no expiry, the stack's removalPolicy
   */
  readonly attachments?: AttachmentsBucketProps;
}

/** The props with every default applied, after validation. */
interface ResolvedProps {
  readonly rateLimit: number;
  readonly burstLimit: number;
  readonly maxReceiveCount: number;
  readonly fanoutMaxConcurrency: number;
  readonly oldestMessageAgeAlarmSeconds: number;
  readonly removalPolicy: RemovalPolicy;
  readonly stageName: string;
}

export const DEFAULTS = {
  rateLimit: 100,
  burstLimit: 200,
  maxReceiveCount: FANOUT_QUEUE.defaultMaxReceiveCount,
  fanoutMaxConcurrency: FANOUT_QUEUE.defaultMaxConcurrency,
  oldestMessageAgeAlarmSeconds: 60,
  stageName: 'prod',
} as const;

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
    const attachments = this.createAttachments(props, config);
    const auth = this.createAuth(props, config);
    const offlineBus = this.createOfflineBus();
    const functions = this.createFunctions(tables, queues, attachments, offlineBus, auth.tokenIssuer);
    const api = this.createApi(functions, config, props);
    this.createFanout(functions, queues, api, config);
    const alarms = this.createAlarms(functions, queues, config, props);
    const dashboard = this.createDashboard(functions, queues, alarms);
    this.createOutputs(tables, queues, attachments, auth, api, functions, alarms, dashboard);
  }

  private createTables(config: ResolvedProps): ChatTables {
    return new ChatTables(this, 'Tables', { removalPolicy: config.removalPolicy });
  }

  private createQueues(config: ResolvedProps): FanoutQueues {
    return new FanoutQueues(this, 'Fanout', {
      visibilityTimeoutSeconds: fanoutVisibilityTimeoutSeconds(),
      maxReceiveCount: config.maxReceiveCount,
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
    queues: FanoutQueues,
    attachments: AttachmentsBucket,
    offlineBus: EventBus,
    issuer: TokenIssuer,
  ): ChatFunctions {
    const entries = Object.entries(FUNCTIONS) as [FunctionName, FunctionWiring][];
    const functions = Object.fromEntries(
      entries.map(([name, wiring]) => {
        const fn = new ChatFunction(this, `${constructId(name)}Function`, { wiring });
        for (const [table, access] of Object.entries(wiring.tables) as [TableName, TableAccess][]) {
          fn.useTable(table, tables.tables[table], access);
        }
        if (wiring.fanoutQueue) fn.useQueue(ENV.fanoutQueueUrl, queues.queue, wiring.fanoutQueue);
        if (wiring.deadLetterQueue) {
          fn.useQueue(ENV.deadLetterQueueUrl, queues.deadLetterQueue, wiring.deadLetterQueue);
        }
        if (wiring.attachments) fn.useAttachments(attachments.bucket, wiring.attachments);
        if (wiring.eventBus) fn.useEventBus(offlineBus, wiring.eventBus);
        if (wiring.verifiesTokens) {
          fn.addEnvironment(ENV.jwtIssuer, issuer.issuer);
          fn.addEnvironment(ENV.jwtJwksUrl, issuer.jwksUrl);
          if (issuer.audience !== undefined) fn.addEnvironment(ENV.jwtAudience, issuer.audience);
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
      createCloudWatchRole: props.createApiGatewayCloudWatchRole,
    });
  }

  /**
   * The fan-out consumer reads the queue in FIFO batches, reports partial failures (so one failed group
   * does not replay the others) and may post to any connection of this stage, and nowhere else.
   */
  private createFanout(
    functions: ChatFunctions,
    queues: FanoutQueues,
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
    for (const [name, wiring] of Object.entries(FUNCTIONS) as [FunctionName, FunctionWiring][]) {
      if (wiring.managementApi) functions[name].useManagementApi(api.stage);
    }
  }

  private createAlarms(
    functions: ChatFunctions,
    queues: FanoutQueues,
    config: ResolvedProps,
    props: ServerlessChatStackProps,
  ): ChatAlarms {
    return new ChatAlarms(this, 'Alarms', {
      fanoutQueue: queues.queue,
      deadLetterQueue: queues.deadLetterQueue,
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

  private createOutputs(
    tables: ChatTables,
    queues: FanoutQueues,
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
    output('RedriveFunctionName', functions.dlq.functionName, 'Invoke to move dead letters back to fan-out');
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

/** Applies defaults and refuses values AWS would reject (or that make no sense) with a clear message. */
function resolveProps(props: ServerlessChatStackProps): ResolvedProps {
  const config: ResolvedProps = {
    rateLimit: props.throttle?.rateLimit ?? DEFAULTS.rateLimit,
    burstLimit: props.throttle?.burstLimit ?? DEFAULTS.burstLimit,
    maxReceiveCount: props.maxReceiveCount ?? DEFAULTS.maxReceiveCount,
    fanoutMaxConcurrency: props.fanoutMaxConcurrency ?? DEFAULTS.fanoutMaxConcurrency,
    oldestMessageAgeAlarmSeconds: props.oldestMessageAgeAlarmSeconds ?? DEFAULTS.oldestMessageAgeAlarmSeconds,
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    stageName: props.stageName ?? DEFAULTS.stageName,
  };
  requirePositive('throttle.rateLimit', config.rateLimit);
  requirePositive('throttle.burstLimit', config.burstLimit);
  requireIntegerIn('maxReceiveCount', config.maxReceiveCount, 1, 1000);
  requireIntegerIn('fanoutMaxConcurrency', config.fanoutMaxConcurrency, 2, 1000);
  requirePositive('oldestMessageAgeAlarmSeconds', config.oldestMessageAgeAlarmSeconds);
  if (!Token.isUnresolved(config.stageName) && !/^[A-Za-z0-9_-]{1,128}$/.test(config.stageName)) {
    throw new Error(
      `stageName must be 1-128 letters, digits, '-' or '_' (it becomes a URL path segment); got '${config.stageName}'`,
    );
  }
  if (props.oidc && props.cognito) {
    throw new Error(
      'oidc and cognito cannot both be set: oidc trusts an existing issuer, cognito configures the user pool ' +
        'the stack would otherwise create. Remove one of them.',
    );
  }
  if (props.oidc) {
    requireHttpsUrl('oidc.issuer', props.oidc.issuer);
    requireHttpsUrl('oidc.jwksUrl', props.oidc.jwksUrl);
    if (props.oidc.audience !== undefined && props.oidc.audience.trim() === '') {
      throw new Error('oidc.audience must not be empty; leave it out to skip the audience check');
    }
  }
  if (props.alarmEmail !== undefined && !Token.isUnresolved(props.alarmEmail)) {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.alarmEmail)) {
      throw new Error(`alarmEmail must be an email address; got '${props.alarmEmail}'`);
    }
  }
  return config;
}

function requirePositive(name: string, value: number): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a number greater than 0; got ${value}`);
  }
}

function requireIntegerIn(name: string, value: number, min: number, max: number): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}; got ${value}`);
  }
}

function requireHttpsUrl(name: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name} must be an https URL; got '${value}'`);
  }
  if (url.protocol !== 'https:') {
    throw new Error(`${name} must be an https URL; got '${value}'`);
  }
}
