import { RemovalPolicy, type StackProps, Token } from 'aws-cdk-lib';
import type { AttachmentsBucketProps } from './attachments-bucket';
import type { SignalAlarmThresholds } from './chat-alarms';
import type { CognitoAuthProps, OidcIssuerProps } from './chat-auth';
import { FANOUT_QUEUE } from './wiring';

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
export interface ResolvedProps {
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
