import { RemovalPolicy, type StackProps, Token } from 'aws-cdk-lib';
import { TABLES, type TableName } from '../shared/tables';
import type { AttachmentsBucketProps } from './attachments-bucket';
import {
  type ResolvedCapacity,
  type RouteThrottle,
  resolveCapacity,
  type TableThroughputCap,
} from './capacity';
import type { SignalAlarmThresholds } from './chat-alarms';
import type { CognitoAuthProps, OidcIssuerProps } from './chat-auth';
import type { FunctionBundlingProps } from './chat-function';
import { FANOUT_QUEUE, type FunctionName, type RouteKey } from './wiring';

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
   * @default 30 (FANOUT_QUEUE.defaultMaxReceiveCount: a failed record returns within 8 s, lambdas/fanout/retry.ts)
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
  /**
   * Per-route throttles of the stage (across all clients), merged over the defaults route by route; a
   * route with none has the stage's `throttle`. A client over a route's limit gets API Gateway's own
   * 429 error frame (or, for `$connect`, a refused handshake); see docs/security.md.
   * @default DEFAULT_ROUTE_THROTTLES (lib/capacity.ts): $connect 20/s (burst 40), send 50/s (100),
   * listConversations 5/s (10), history 20/s (40), presence 10/s (20)
   */
  readonly routeThrottles?: Partial<Record<RouteKey, RouteThrottle>>;
  /**
   * Reserved concurrency per function: a reservation both guarantees a function that many executions
   * and caps it there. Opt-in, because AWS refuses any reservation that leaves the account's regional
   * pool fewer than 100 unreserved executions, and a new account's pool may be as small as 10: on such
   * an account set nothing here. When set, it must reserve the authorizer and the fan-out (the two
   * whose capacity it exists to keep), and the fan-out at least `fanoutMaxConcurrency`.
   * `SUGGESTED_RESERVED_CONCURRENCY` (lib/capacity.ts) fits an account with 1,000.
   * @default - nothing reserved: every function runs in the account's shared pool
   */
  readonly reservedConcurrency?: Partial<Record<FunctionName, number>>;
  /**
   * On-demand throughput cap of every table and each of its indexes (request units a second). A request
   * over it is throttled, which a route answers `busy` with `retryAfterMs`.
   * @default DEFAULT_TABLE_THROUGHPUT (lib/capacity.ts): 1,000 read and 500 write units a second
   */
  readonly tableThroughput?: Partial<TableThroughputCap>;
  /**
   * A cap for a particular table, over `tableThroughput`.
   * @default - every table has `tableThroughput`
   */
  readonly tableThroughputOverrides?: Partial<Record<TableName, Partial<TableThroughputCap>>>;
  /**
   * Create the CloudFront response-headers policy of the web page (WebSecurityHeaders: a CSP allowing
   * only this API's wss:// origin and the attachments bucket, HSTS, nosniff, no framing) and output its
   * id as WebResponseHeadersPolicyId, for the distribution that serves the page.
   * @default false
   */
  readonly webSecurityHeaders?: boolean;
  /**
   * How every function's code is bundled: source maps (and `--enable-source-maps`), or the AWS SDK
   * bundled instead of the runtime's copy. docs/operations.md#bundles weighs both.
   * @default - minified bundles without source maps, on the AWS SDK of the nodejs22.x runtime
   */
  readonly functionBundling?: FunctionBundlingProps;
}

/** The props with every default applied, after validation. */
export interface ResolvedProps {
  readonly rateLimit: number;
  readonly burstLimit: number;
  readonly maxReceiveCount: number;
  readonly fanoutMaxConcurrency: number;
  readonly oldestMessageAgeAlarmSeconds: number;
  readonly removalPolicy: RemovalPolicy;
  readonly stageName: string;
  readonly capacity: ResolvedCapacity;
  readonly functionBundling: FunctionBundlingProps;
}

export const DEFAULTS = {
  rateLimit: 100,
  burstLimit: 200,
  maxReceiveCount: FANOUT_QUEUE.defaultMaxReceiveCount,
  fanoutMaxConcurrency: FANOUT_QUEUE.defaultMaxConcurrency,
  oldestMessageAgeAlarmSeconds: 60,
  stageName: 'prod',
} as const;

/** Applies defaults and refuses values AWS would reject (or that make no sense) with a clear message. */
export function resolveProps(props: ServerlessChatStackProps): ResolvedProps {
  const config: ResolvedProps = {
    rateLimit: props.throttle?.rateLimit ?? DEFAULTS.rateLimit,
    burstLimit: props.throttle?.burstLimit ?? DEFAULTS.burstLimit,
    maxReceiveCount: props.maxReceiveCount ?? DEFAULTS.maxReceiveCount,
    fanoutMaxConcurrency: props.fanoutMaxConcurrency ?? DEFAULTS.fanoutMaxConcurrency,
    oldestMessageAgeAlarmSeconds: props.oldestMessageAgeAlarmSeconds ?? DEFAULTS.oldestMessageAgeAlarmSeconds,
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    stageName: props.stageName ?? DEFAULTS.stageName,
    capacity: resolveCapacity(
      props,
      Object.keys(TABLES) as TableName[],
      props.fanoutMaxConcurrency ?? DEFAULTS.fanoutMaxConcurrency,
    ),
    functionBundling: props.functionBundling ?? {},
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
    // oidc.audience is checked by ChatAuth, which also stands alone.
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
