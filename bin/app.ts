/**
 * The CDK app. Settings come from context, so a deployment needs no code change:
 *   npx cdk deploy -c alarmEmail=ops@example.com -c stageName=prod
 *   npx cdk deploy -c oidcIssuer=https://issuer.example.com -c oidcJwksUrl=https://issuer.example.com/jwks
 * Other keys: oidcAudience, rateLimit, burstLimit, maxReceiveCount, fanoutMaxConcurrency,
 * oldestMessageAgeAlarmSeconds, removalPolicy (retain|destroy|snapshot), createApiGatewayCloudWatchRole,
 * stackName. Every resource is checked against cdk-nag's AWS Solutions rules at synth.
 */
import { App, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ServerlessChatStack, type ServerlessChatStackProps } from '../lib/chat-stack';

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
  ...(flag('localhostCallback') === true ? { cognito: { localhostCallback: true } } : {}),
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
