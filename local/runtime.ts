/**
 * The whole chat on a laptop: DynamoDB Local and an SQS emulator, the real handlers behind a local API
 * Gateway WebSocket emulator, the fan-out event source, and a development token issuer. Everything is
 * wired from lib/wiring.ts and shared/tables.ts, the same tables the CDK stack is built from.
 */
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  AUTHORIZER,
  FANOUT_CONSUMER,
  FANOUT_QUEUE,
  FUNCTIONS,
  type FunctionWiring,
  fanoutVisibilityTimeoutSeconds,
  ROUTE_SELECTION_EXPRESSION,
  ROUTES,
  type RouteWiring,
  routeTarget,
  SHARD_CONSUMER,
  SHARD_QUEUE,
  shardVisibilityTimeoutSeconds,
  TOKEN_QUERY_PARAMETER,
} from '../lib/wiring';
import type { TableNames } from '../shared/tables';
import { buildWebPage } from '../web/build';
import { startWebSocketApi, type WebSocketApi } from './apigw/server';
import { type ControlPlane, startControlPlane, type TokenOptions } from './control';
import { createLocalEventBus, type LocalEventBus } from './event-bus';
import { type SqsEventSource, startSqsEventSource } from './event-source';
import { createFaults, type Faults } from './faults';
import { environmentFor, type LocalFunctions, loadFunctions } from './functions';
import { LOOPBACK_HOST } from './loopback';
import { createAttachmentsBucket, createQueues, createShardQueues, createTables } from './resources';
import { startS3CorsProxy } from './s3-cors';
import {
  assertJavaAvailable,
  type DynamoDbLocal,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type SqsEmulator,
  startDynamoDbLocal,
  startSqsEmulator,
} from './services';

const ROOT = path.join(__dirname, '..');

/** Which functions exist and which route or queue invokes them. Defaults to lib/wiring.ts. */
export interface Wiring {
  functions: Record<string, FunctionWiring>;
  /** Route key → a function name (two-way) or `{ function, routeResponse: false }` (one-way), as ROUTES. */
  routes: Record<string, RouteWiring<string>>;
  authorizer: string;
  fanoutConsumer: string;
  /** The function the shard queue invokes; a wiring without it runs no shard worker. */
  shardConsumer?: string;
}

export const DEFAULT_WIRING: Wiring = {
  functions: FUNCTIONS,
  routes: ROUTES,
  authorizer: AUTHORIZER,
  fanoutConsumer: FANOUT_CONSUMER,
  shardConsumer: SHARD_CONSUMER,
};

export interface LocalRuntimeOptions {
  /** 0 or absent picks a free port. */
  ports?: { webSocket?: number; control?: number; dynamodb?: number; sqs?: number };
  /** @default 'local' */
  stage?: string;
  /** Prefix of table and queue names. @default 'local' */
  prefix?: string;
  /** @default DEFAULT_WIRING (lib/wiring.ts) */
  wiring?: Wiring;
  /** Of the fan-out queue, and of the shard queue when given. @default FANOUT_QUEUE.defaultMaxReceiveCount */
  maxReceiveCount?: number;
  /**
   * Of the fan-out queue, and of the shard queue when given.
   * @default fanoutVisibilityTimeoutSeconds() (6 × the fan-out timeout, as deployed)
   */
  visibilityTimeoutSeconds?: number;
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  /** Powertools log level of the handlers. @default 'WARN' */
  logLevel?: string;
  /**
   * Keeps DynamoDB Local (and a queue emulator in a process of its own) out of the caller's process
   * group, so a terminal's Ctrl-C does not kill it before stop() has run the $disconnect handlers that
   * still need it. For a caller that stops the runtime on SIGINT and SIGTERM, as `npm start` does.
   * @default false
   */
  servicesInOwnProcessGroup?: boolean;
  /**
   * Runs the queue emulator in a child process of its own (`processes.queueEmulator`), so a chaos run can
   * freeze the queues alone. It costs about a second of start and 100 MB. @default false
   */
  queueEmulatorProcess?: boolean;
  /**
   * A DynamoDB Local that is already running, to use instead of starting one: the runtime neither
   * starts nor stops it. DynamoDB Local keeps a separate database per access key, so runtimes that share
   * one process but not an access key see none of each other's tables (the test suite gives every file
   * its own key, local/services.ts `namespaceAccessKey`).
   */
  sharedDynamoDb?: SharedDynamoDb;
  /**
   * Invocations of each function that run at once; the others wait in arrival order, and each one's
   * timeout starts when it runs (local/admission.ts). Lambda instead runs each invocation in an
   * environment of its own and throttles past the account's concurrency. Infinity turns it off.
   * @default DEFAULT_LOCAL_CONCURRENCY (64)
   */
  functionConcurrency?: number;
  onLog?: (line: string) => void;
}

/** A running DynamoDB Local and the access key whose database a runtime uses in it. */
export interface SharedDynamoDb {
  endpoint: string;
  accessKeyId: string;
}

export interface LocalRuntime {
  webSocketUrl: string;
  managementEndpoint: string;
  controlUrl: string;
  /** The web chat page (web/), served by the control plane. */
  webUrl: string;
  /** `s3` is the CORS front of fauxqs's S3 (local/s3-cors.ts), the endpoint presigned URLs name. */
  endpoints: { dynamodb: string; sqs: string; s3: string };
  /** SDK clients for the local services, for tests and tools that inspect them. */
  clients: { dynamodb: DynamoDBClient; sqs: SQSClient; s3: S3Client };
  tables: TableNames;
  queues: {
    fanout: { url: string; arn: string };
    deadLetter: { url: string; arn: string };
    /** The FIFO queue of shard jobs and its dead-letter queue. */
    shards: { url: string; arn: string };
    shardDeadLetter: { url: string; arn: string };
  };
  api: WebSocketApi;
  /** The offline-member bus stand-in: every event the fan-out put, also at GET `${controlUrl}/events`. */
  eventBus: LocalEventBus;
  /** A token the authorizer accepts, for a user id. */
  issueToken(userId: string, options?: TokenOptions): Promise<string>;
  /** The WebSocket URL with a fresh token for `userId`. */
  connectUrl(userId: string): Promise<string>;
  /** Invokes a function by wiring name, as `aws lambda invoke` would. */
  invoke(name: string, event: unknown): Promise<unknown>;
  /** Throttling, 5xx and crashes injected into this runtime's invocations (local/faults.ts). */
  faults: Faults;
  /**
   * The services' own processes, which a chaos run may freeze (SIGSTOP) and resume (SIGCONT): DynamoDB
   * Local unless it is shared, the queue emulator only when it runs in a child process of its own.
   */
  processes: { dynamoDb?: number; queueEmulator?: number };
  stop(): Promise<void>;
}

/**
 * The emulator's route table: route key → the function the wiring names, two-way exactly when the
 * wiring gives the route a route response, as the stack deploys it.
 */
export function localRoutes(wiring: Wiring, functions: Pick<LocalFunctions, 'invoker'>) {
  return Object.fromEntries(
    Object.entries(wiring.routes).map(([routeKey, route]) => {
      const target = routeTarget(route);
      return [
        routeKey,
        { invoke: functions.invoker(target.function, routeKey), twoWay: target.routeResponse },
      ];
    }),
  );
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

/** Runs `stops` in reverse order of start, collecting failures so one never hides another. */
async function stopAll(stops: (() => Promise<void>)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const stop of stops.reverse()) {
    try {
      await stop();
    } catch (err: unknown) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'The local runtime did not stop cleanly');
}

/** The runtime's own DynamoDB Local, after checking that Java is there to run it. */
async function startOwnDynamoDbLocal(options: LocalRuntimeOptions): Promise<DynamoDbLocal> {
  assertJavaAvailable();
  return startDynamoDbLocal({
    port: options.ports?.dynamodb,
    ownProcessGroup: options.servicesInOwnProcessGroup,
  });
}

/**
 * Starts everything and resolves when a client can connect. On failure, whatever started is stopped.
 * Handlers read their environment at import, so one runtime per process (or per test file) is the rule.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const log = options.onLog ?? (() => undefined);
  const wiring = options.wiring ?? DEFAULT_WIRING;
  const prefix = options.prefix ?? 'local';
  const stops: (() => Promise<void>)[] = [];
  // Bundled while the services start; a page that does not build fails the start like any other part.
  const webPage = buildWebPage();
  webPage.catch(() => undefined); // awaited below; a failure before that must not go unhandled
  const shared = options.sharedDynamoDb;
  const credentials = {
    ...LOCAL_CREDENTIALS,
    accessKeyId: shared?.accessKeyId ?? LOCAL_CREDENTIALS.accessKeyId,
  };
  try {
    // allSettled, not all: a rejection must not reach the cleanup below before the other service has
    // started and registered its stop, or its Java process would outlive the runtime.
    const [dynamoStart, sqsStart] = await Promise.allSettled([
      shared ?? startOwnDynamoDbLocal(options),
      startSqsEmulator({
        port: options.ports?.sqs,
        ownProcess: options.queueEmulatorProcess,
        ownProcessGroup: options.servicesInOwnProcessGroup,
      }),
    ]);
    for (const started of [dynamoStart, sqsStart]) {
      // A shared DynamoDB Local has no stop here: it outlives this runtime.
      if (started.status === 'fulfilled' && 'stop' in started.value) {
        const service: DynamoDbLocal | SqsEmulator = started.value;
        stops.push(() => service.stop());
      }
    }
    if (dynamoStart.status === 'rejected') throw dynamoStart.reason;
    if (sqsStart.status === 'rejected') throw sqsStart.reason;
    const dynamo = dynamoStart.value;
    const sqsEmulator = sqsStart.value;
    // fauxqs answers no CORS, so all S3 traffic goes through a front that answers as the bucket's rule
    // does: presigned URLs then name it, and the web page can upload from the control plane's origin.
    const s3Front = await startS3CorsProxy({ upstream: sqsEmulator.s3Endpoint });
    stops.push(() => s3Front.stop());
    log(`S3 (attachments) on ${s3Front.endpoint}: fauxqs behind the bucket's CORS rule`);
    const clientConfig = { region: LOCAL_REGION, credentials };
    const ddb = new DynamoDBClient({ ...clientConfig, endpoint: dynamo.endpoint });
    const sqs = new SQSClient({ ...clientConfig, endpoint: sqsEmulator.endpoint });
    const s3 = new S3Client({ ...clientConfig, endpoint: s3Front.endpoint });
    const [tables, fifoQueues, shardQueues, attachmentsBucket] = await Promise.all([
      createTables(ddb, prefix),
      createQueues(sqs, prefix, {
        maxReceiveCount: options.maxReceiveCount ?? FANOUT_QUEUE.defaultMaxReceiveCount,
        visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? fanoutVisibilityTimeoutSeconds(),
      }),
      createShardQueues(sqs, prefix, {
        maxReceiveCount: options.maxReceiveCount ?? SHARD_QUEUE.defaultMaxReceiveCount,
        visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? shardVisibilityTimeoutSeconds(),
      }),
      createAttachmentsBucket(s3, prefix),
    ]);
    const queues = { ...fifoQueues, ...shardQueues };

    // Routes and the control plane call into the functions, which load only once the environment is known.
    let functions: LocalFunctions | undefined;
    let webSocketUrl = '';
    const lazy: Pick<LocalFunctions, 'invoker' | 'invoke'> = {
      invoke: (name, event, trigger, invokeOptions) => {
        if (functions === undefined) throw new Error('The local functions are still loading');
        return functions.invoke(name, event, trigger, invokeOptions);
      },
      invoker: (name, trigger) => (event, invokeOptions) => lazy.invoke(name, event, trigger, invokeOptions),
    };
    const { assets, bundleBytes } = await webPage;
    const eventBus = createLocalEventBus(`${prefix}-chat-offline`);
    const control: ControlPlane = await startControlPlane({
      port: options.ports?.control,
      eventBus,
      invoke: (name, event) => lazy.invoke(name, event, 'invoke'),
      web: { assets, webSocketUrl: () => webSocketUrl },
    });
    stops.push(() => control.close());
    s3Front.allowOrigins(pageOrigins(control.url));
    log(
      `web chat page on ${control.url}/ (app.js ${kb(bundleBytes.raw)} minified, ${kb(bundleBytes.gzip)} gzipped)`,
    );
    const api = await startWebSocketApi({
      port: options.ports?.webSocket,
      host: LOOPBACK_HOST,
      stage: options.stage ?? 'local',
      routeSelectionExpression: ROUTE_SELECTION_EXPRESSION,
      routes: localRoutes(wiring, lazy),
      authorizer: {
        invoke: lazy.invoker(wiring.authorizer, 'authorizer'),
        identitySource: [`route.request.querystring.${TOKEN_QUERY_PARAMETER}`],
      },
      ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
      ...(options.maxConnectionMs === undefined ? {} : { maxConnectionMs: options.maxConnectionMs }),
      onLog: log,
      // The function loader logs every invocation in one line; the emulator adds only what is not one.
      logInvocations: false,
    });
    stops.push(() => api.close());
    webSocketUrl = api.url;

    const values = {
      tables,
      fanoutQueueUrl: queues.fanout.url,
      deadLetterQueueUrl: queues.deadLetter.url,
      shardQueueUrl: queues.shards.url,
      managementEndpoint: api.managementEndpoint,
      jwt: { issuer: control.issuer, jwksUrl: control.jwksUrl, audience: control.audience },
      attachmentsBucket,
      offlineEventBus: eventBus.name,
    };
    // Handlers find local services through the SDK's standard endpoint variables: none knows it is local.
    Object.assign(process.env, {
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SQS: sqsEmulator.endpoint,
      AWS_ENDPOINT_URL_S3: s3Front.endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: control.url,
      POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN',
      // EMF metrics are JSON lines on stdout, meant for CloudWatch Logs, not for a terminal.
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
      ...Object.assign({}, ...Object.values(wiring.functions).map((fn) => environmentFor(fn, values))),
    });
    const faults = createFaults();
    stops.push(async () => faults.clear());
    functions = await loadFunctions(wiring.functions, {
      root: ROOT,
      onLog: log,
      faults,
      ...(options.functionConcurrency === undefined ? {} : { concurrency: options.functionConcurrency }),
    });

    const eventSource: SqsEventSource = startSqsEventSource({
      sqs,
      queueUrl: queues.fanout.url,
      queueArn: queues.fanout.arn,
      name: wiring.fanoutConsumer,
      invoke: lazy.invoker(wiring.fanoutConsumer, 'sqs'),
      batchSize: FANOUT_QUEUE.batchSize,
      maxConcurrency: FANOUT_QUEUE.defaultMaxConcurrency,
      reportBatchItemFailures: FANOUT_QUEUE.reportBatchItemFailures,
      onLog: log,
      logInvocations: false,
    });
    stops.push(() => eventSource.stop());
    const shardConsumer = wiring.shardConsumer;
    if (shardConsumer !== undefined && wiring.functions[shardConsumer] !== undefined) {
      const shardSource = startSqsEventSource({
        sqs,
        queueUrl: queues.shards.url,
        queueArn: queues.shards.arn,
        name: shardConsumer,
        invoke: lazy.invoker(shardConsumer, 'sqs'),
        batchSize: SHARD_QUEUE.batchSize,
        maxConcurrency: SHARD_QUEUE.defaultMaxConcurrency,
        reportBatchItemFailures: SHARD_QUEUE.reportBatchItemFailures,
        onLog: log,
        logInvocations: false,
      });
      stops.push(() => shardSource.stop());
    }

    return {
      webSocketUrl: api.url,
      managementEndpoint: api.managementEndpoint,
      controlUrl: control.url,
      webUrl: `${control.url}/`,
      endpoints: { dynamodb: dynamo.endpoint, sqs: sqsEmulator.endpoint, s3: s3Front.endpoint },
      clients: { dynamodb: ddb, sqs, s3 },
      tables,
      queues,
      api,
      eventBus,
      issueToken: control.issueToken,
      connectUrl: async (userId) =>
        `${api.url}?${TOKEN_QUERY_PARAMETER}=${encodeURIComponent(await control.issueToken(userId))}`,
      invoke: (name, event) => lazy.invoke(name, event, 'invoke'),
      faults,
      processes: { dynamoDb: 'pid' in dynamo ? dynamo.pid : undefined, queueEmulator: sqsEmulator.pid },
      stop: () => stopAll(stops),
    };
  } catch (err: unknown) {
    await stopAll(stops).catch(() => undefined);
    throw err;
  }
}

/**
 * The origins the web page may be opened from: the control plane's, under each name of loopback, so
 * `localhost`, `127.0.0.1` and `[::1]` all work.
 */
export function pageOrigins(controlUrl: string): string[] {
  const { protocol, port } = new URL(controlUrl);
  return ['localhost', '127.0.0.1', '[::1]'].map((host) => `${protocol}//${host}:${port}`);
}
