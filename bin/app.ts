/**
 * The CDK app. Settings come from context, so a deployment needs no code change:
 *   npx cdk deploy -c alarmEmail=ops@example.com -c stageName=prod
 *   npx cdk deploy -c oidcIssuer=https://issuer.example.com -c oidcJwksUrl=https://issuer.example.com/jwks
 * Other keys: oidcAudience, rateLimit, burstLimit, maxReceiveCount, fanoutMaxConcurrency,
 * oldestMessageAgeAlarmSeconds, removalPolicy (retain|destroy|snapshot), createApiGatewayCloudWatchRole,
 * stackName, tableMaxReadRequestUnits, tableMaxWriteRequestUnits, webSecurityHeaders, and two JSON ones:
 *   -c 'routeThrottles={"send":{"rateLimit":100,"burstLimit":200}}'
 *   -c reservedConcurrency=suggested   (or a JSON object such as '{"authorizer":5,"fanout":10}')
 * Every resource is checked against cdk-nag's AWS Solutions rules at synth.
 */
import { App, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  ServerlessChatStack,
  type ServerlessChatStackProps,
  SUGGESTED_RESERVED_CONCURRENCY,
} from '../lib/chat-stack';

const app = new App();

function text(key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  return String(value);
}

function numeric(key: string): number | undefined {
  const value = text(key);
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (Number.isNaN(parsed)) throw new Error(`Context ${key} must be a number; got '${value}'`);
  return parsed;
}

function flag(key: string): boolean | undefined {
  const value = text(key);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false')
    throw new Error(`Context ${key} must be true or false; got '${value}'`);
  return value === 'true';
}

const REMOVAL_POLICIES: Record<string, RemovalPolicy> = {
  retain: RemovalPolicy.RETAIN,
  destroy: RemovalPolicy.DESTROY,
  snapshot: RemovalPolicy.SNAPSHOT,
};

function removalPolicy(): RemovalPolicy | undefined {
  const value = text('removalPolicy');
  if (value === undefined) return undefined;
  const policy = REMOVAL_POLICIES[value.toLowerCase()];
  if (!policy) throw new Error(`Context removalPolicy must be retain, destroy or snapshot; got '${value}'`);
  return policy;
}

function oidc(): ServerlessChatStackProps['oidc'] {
  const issuer = text('oidcIssuer');
  const jwksUrl = text('oidcJwksUrl');
  const audience = text('oidcAudience');
  if (issuer === undefined && jwksUrl === undefined && audience === undefined) return undefined;
  if (issuer === undefined || jwksUrl === undefined || audience === undefined) {
    throw new Error(
      'Context oidcIssuer, oidcJwksUrl and oidcAudience must be given together (the audience is the client id ' +
        'of this API at the issuer: without it tokens minted for any of its apps would be accepted)',
    );
  }
  return { issuer, jwksUrl, audience };
}

/** A context value holding a JSON object, parsed; the stack props check what is inside. */
function jsonObject<T>(key: string): T | undefined {
  const value = text(key);
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new Error(`Context ${key} must be a JSON object; got '${value}'`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`Context ${key} must be a JSON object; got '${value}'`);
  }
  return parsed as T;
}

function reservedConcurrency(): ServerlessChatStackProps['reservedConcurrency'] {
  if (text('reservedConcurrency') === 'suggested') return SUGGESTED_RESERVED_CONCURRENCY;
  return jsonObject('reservedConcurrency');
}

function tableThroughput(): ServerlessChatStackProps['tableThroughput'] {
  const maxReadRequestUnits = numeric('tableMaxReadRequestUnits');
  const maxWriteRequestUnits = numeric('tableMaxWriteRequestUnits');
  return {
    ...(maxReadRequestUnits === undefined ? {} : { maxReadRequestUnits }),
    ...(maxWriteRequestUnits === undefined ? {} : { maxWriteRequestUnits }),
  };
}

const rateLimit = numeric('rateLimit');
const burstLimit = numeric('burstLimit');

new ServerlessChatStack(app, text('stackName') ?? 'ServerlessChatStack', {
  description: 'serverless-chat: WebSocket chat on API Gateway, Lambda, DynamoDB and SQS FIFO',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  throttle: rateLimit === undefined && burstLimit === undefined ? undefined : { rateLimit, burstLimit },
  maxReceiveCount: numeric('maxReceiveCount'),
  fanoutMaxConcurrency: numeric('fanoutMaxConcurrency'),
  oidc: oidc(),
  alarmEmail: text('alarmEmail'),
  oldestMessageAgeAlarmSeconds: numeric('oldestMessageAgeAlarmSeconds'),
  removalPolicy: removalPolicy(),
  stageName: text('stageName'),
  createApiGatewayCloudWatchRole: flag('createApiGatewayCloudWatchRole'),
  routeThrottles: jsonObject('routeThrottles'),
  reservedConcurrency: reservedConcurrency(),
  tableThroughput: tableThroughput(),
  webSecurityHeaders: flag('webSecurityHeaders'),
  ...(flag('localhostCallback') === true ? { cognito: { localhostCallback: true } } : {}),
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
