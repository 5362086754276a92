import * as path from 'node:path';
import { Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { ATTACHMENTS_ROOT, UPLOADS_ROOT } from '../shared/attachments';
import { ENV } from '../shared/env';
import { TABLE_ENV, type TableName } from '../shared/tables';
import { FUNCTION_LOGGING } from './function-logging';
import { acknowledgeManagedPolicy, acknowledgeRule, acknowledgeWildcardResource } from './nag';
import type { BucketAccess, EventBusAccess, FunctionWiring, QueueAccess, TableGrant } from './wiring';
import { DEFAULT_TIMEOUT_SECONDS } from './wiring';

/** Repository root: wiring entries are relative to it. */
const PROJECT_ROOT = path.join(__dirname, '..');

/** Memory of a function whose wiring does not name one (matches FunctionWiring's documented default). */
const DEFAULT_MEMORY_MIB = 256;

/**
 * How every chat function's code is bundled. The defaults keep each bundle small and quick to load
 * (docs/operations.md#bundles has the measurements and the trade-offs).
 */
export interface FunctionBundlingProps {
  /**
   * Ship a source map with each bundle and run Node with `--enable-source-maps`, so stack traces in the
   * logs name TypeScript files and lines. Off by default: the flag makes Node parse the map at cold
   * start, a few hundred milliseconds on every new container, to improve traces that the logs' keys
   * (function, route, conversation, seq) already locate.
   * @default false
   */
  readonly sourceMaps?: boolean;
  /**
   * Bundle the AWS SDK v3 into each function instead of loading the copy the nodejs22.x runtime ships.
   * Turn it on to run exactly the SDK version of package-lock.json (a fix or a feature the runtime's
   * copy lacks), at the price of bundles several times larger.
   * @default false
   */
  readonly bundleAwsSdk?: boolean;
}

/**
 * esbuild settings of a chat function's bundle: minified CommonJS for Node 22, without the AWS SDK
 * (the runtime provides `@aws-sdk/*` and the `@smithy/*` packages it is built on) unless
 * `bundleAwsSdk`, with a source map (its sources left out: a stack trace needs positions, not text)
 * only when `sourceMaps`.
 */
export function chatBundling(props: FunctionBundlingProps = {}): BundlingOptions {
  return {
    minify: true,
    target: 'node22',
    format: OutputFormat.CJS,
    sourceMap: props.sourceMaps === true,
    sourcesContent: false,
    // The SDK's ES module build lets esbuild drop the commands a function never sends.
    ...(props.bundleAwsSdk
      ? { externalModules: [], mainFields: ['module', 'main'] }
      : { externalModules: ['@aws-sdk/*', '@smithy/*'] }),
  };
}

export interface ChatFunctionProps {
  /** The function's row of lib/wiring.ts: entry file, description, timeout and memory. */
  readonly wiring: FunctionWiring;
  /**
   * How the function's code is bundled.
   * @default - minified, the runtime's AWS SDK, no source maps (FunctionBundlingProps)
   */
  readonly bundling?: FunctionBundlingProps;
  /**
   * How long the function's log events are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log group when the function is removed from the stack.
   * @default RemovalPolicy.RETAIN (the CloudFormation default for log groups)
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Executions reserved for the function, which are also the most it may run at once.
   * @default - none reserved: it runs in the account's shared pool
   */
  readonly reservedConcurrency?: number;
}

/**
 * The one place where every chat Lambda gets its runtime settings: Node.js 22 on ARM64, a lean bundle
 * (`chatBundling`; source maps on request), X-Ray tracing, and its own log group with a retention
 * period, written in the JSON format without the platform's per-invocation lines (FUNCTION_LOGGING).
 * Access to tables and queues is granted through `useTable`/`useQueue`, which also set the environment
 * variable that carries the resource's name, so a grant and its variable cannot drift.
 */
export class ChatFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: ChatFunctionProps) {
    const { wiring } = props;
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy,
    });
    super(scope, id, {
      entry: path.join(PROJECT_ROOT, wiring.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      description: wiring.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      timeout: Duration.seconds(wiring.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS),
      memorySize: wiring.memoryMiB ?? DEFAULT_MEMORY_MIB,
      tracing: Tracing.ACTIVE,
      reservedConcurrentExecutions: props.reservedConcurrency,
      logGroup,
      loggingFormat: LoggingFormat[FUNCTION_LOGGING.format],
      systemLogLevelV2: SystemLogLevel[FUNCTION_LOGGING.systemLogLevel],
      applicationLogLevelV2: ApplicationLogLevel[FUNCTION_LOGGING.applicationLogLevel],
      environment: props.bundling?.sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : undefined,
      bundling: chatBundling(props.bundling),
    });
    this.acknowledgeBaseFindings();
  }

  /**
   * Grants exactly `grant` on `table` (its item actions on the table, Query on each named index and on
   * no other) and passes the table's name in TABLE_ENV[name]. Nothing else of the table: no Scan, no
   * stream reads, no DescribeTable.
   */
  useTable(name: TableName, table: ITable, grant: TableGrant): void {
    if (grant.actions.length > 0) {
      this.addToRolePolicy(
        new PolicyStatement({
          actions: grant.actions.map((action) => `dynamodb:${action}`),
          resources: [table.tableArn],
        }),
      );
    }
    const indexes = grant.queryIndexes ?? [];
    if (indexes.length > 0) {
      this.addToRolePolicy(
        new PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: indexes.map((index) => `${table.tableArn}/index/${index}`),
        }),
      );
    }
    this.addEnvironment(TABLE_ENV[name], table.tableName);
  }

  /**
   * Grants the queue actions `access` needs and passes the queue URL in `envName`. Consuming covers
   * receive, delete and visibility changes; an event source mapping adds the same grant on its own.
   */
  useQueue(envName: string, queue: IQueue, access: QueueAccess): void {
    if (access === 'consume' || access === 'consumeAndSend') queue.grantConsumeMessages(this);
    if (access === 'send' || access === 'consumeAndSend') queue.grantSendMessages(this);
    this.addEnvironment(envName, queue.queueUrl);
  }

  /**
   * Grants the object actions `access` needs, each on its prefix of `bucket` only (no list, nothing
   * else of the bucket), and passes the bucket name in ENV.attachmentsBucket.
   */
  useAttachments(bucket: IBucket, access: BucketAccess): void {
    const grants: { prefix: string; actions: string[] }[] =
      access === 'sign'
        ? [
            // Signing a POST needs PutObject; confirmUpload reads the upload and deletes it.
            { prefix: UPLOADS_ROOT, actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'] },
            // The confirmed copy, and the GETs downloadUrl signs after its HeadObject.
            { prefix: ATTACHMENTS_ROOT, actions: ['s3:PutObject', 's3:GetObject'] },
          ]
        : [{ prefix: ATTACHMENTS_ROOT, actions: ['s3:GetObject', 's3:DeleteObject'] }];
    for (const { prefix, actions } of grants) {
      const objects = bucket.arnForObjects(`${prefix}*`);
      this.addToRolePolicy(new PolicyStatement({ actions, resources: [objects] }));
      acknowledgeWildcardResource(
        this,
        objects,
        `Attachment keys are made at run time under ${prefix}<conversationId>/, so the grant covers that ` +
          'prefix of this one bucket, with the object actions the function sends only.',
      );
    }
    this.addEnvironment(ENV.attachmentsBucket, bucket.bucketName);
  }

  /**
   * Lets the function put events on `bus` (and on no other bus) and passes its name in
   * ENV.offlineEventBus.
   */
  useEventBus(bus: IEventBus, access: EventBusAccess): void {
    if (access === 'put') bus.grantPutEventsTo(this);
    this.addEnvironment(ENV.offlineEventBus, bus.eventBusName);
  }

  /**
   * Lets the function post to, inspect and close connections of `stage` (and no other stage), and passes the
   * management endpoint in ENV.managementEndpoint.
   */
  useManagementApi(stage: WebSocketStage): void {
    stage.grantManagementApiAccess(this);
    this.addEnvironment(ENV.managementEndpoint, stage.callbackUrl);
    const stageArn = Stack.of(stage).formatArn({ service: 'execute-api', resource: stage.api.apiId });
    acknowledgeWildcardResource(
      this,
      `${stageArn}/${stage.stageName}/*/@connections/*`,
      'Connection ids exist only at run time, so execute-api:ManageConnections is scoped to @connections/* ' +
        'of this one stage, the narrowest resource API Gateway offers.',
    );
  }

  /** Findings caused by the settings this base construct fixes for every function. */
  private acknowledgeBaseFindings(): void {
    acknowledgeManagedPolicy(
      this,
      'service-role/AWSLambdaBasicExecutionRole',
      'The basic execution policy only allows writing logs; the function writes to its own log group ' +
        'with a retention period.',
    );
    acknowledgeWildcardResource(
      this,
      '*',
      'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level ' +
        'permissions, so they need Resource "*".',
    );
    acknowledgeRule(
      this,
      'AwsSolutions-L1',
      'Pinned to nodejs22.x on purpose: the handlers are built and tested for that runtime (SPEC target), ' +
        'so a newer runtime is a deliberate upgrade, not drift.',
    );
  }
}
