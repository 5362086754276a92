import { App } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import type { ChatFunction } from '../../lib/chat-function';
import {
  ServerlessChatStack,
  type ServerlessChatStackProps,
  SUGGESTED_RESERVED_CONCURRENCY,
} from '../../lib/chat-stack';

/** Runs the AWS Solutions rules over a freshly built stack; acknowledged findings are not reported. */
function findings(props: ServerlessChatStackProps): string[] {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  new ServerlessChatStack(app, 'Nag', props);

  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(app);

  return report.violations.map(
    (violation) =>
      `${violation.severity} ${violation.ruleName} at ${violation.violatingResources.map((r) => r.constructPath).join(', ')}`,
  );
}

describe('cdk-nag AwsSolutions checks', () => {
  it('reports no unacknowledged error or warning for the default stack', () => {
    expect(findings({})).toEqual([]);
  });

  it('reports no unacknowledged error or warning with an OIDC issuer, an alarm email and the logging role', () => {
    const props: ServerlessChatStackProps = {
      oidc: {
        issuer: 'https://login.example.com',
        jwksUrl: 'https://login.example.com/jwks',
        audience: 'chat-api',
      },
      alarmEmail: 'ops@example.com',
      createApiGatewayCloudWatchRole: true,
      stageName: 'dev',
    };

    expect(findings(props)).toEqual([]);
  });

  it('reports no unacknowledged error or warning with reserved concurrency and the web page headers policy', () => {
    const props: ServerlessChatStackProps = {
      reservedConcurrency: SUGGESTED_RESERVED_CONCURRENCY,
      webSecurityHeaders: true,
    };

    expect(findings(props)).toEqual([]);
  });

  it('reports no unacknowledged error or warning when threat protection is turned off on purpose', () => {
    expect(findings({ cognito: { threatProtection: false } })).toEqual([]);
  });

  it('still reports a wildcard added to a function, so the acknowledgements cover only the named resources', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new ServerlessChatStack(app, 'Nag', {});
    const fanout = stack.node.findChild('FanoutFunction') as ChatFunction;
    fanout.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: ['arn:aws:dynamodb:*:*:table/other/index/*'],
      }),
    );

    const report = new AwsSolutionsChecks(undefined).validateScope(app);

    expect(report.violations.map((violation) => violation.ruleName)).toEqual([
      'AwsSolutions-IAM5[Resource::arn:aws:dynamodb:*:*:table/other/index/*]',
    ]);
  });
});
