/**
 * cdk-nag v3 findings are acknowledged through CDK's `Validations` (NagSuppressions is gone). A finding of a
 * granular rule such as IAM5 is named `Rule[Resource::<flattened resource>]`; these helpers build those names
 * from the very tokens a grant used, so an acknowledgement covers exactly one wildcard and nothing else.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';

/** Acknowledges a whole rule on `scope` and everything below it. */
export function acknowledgeRule(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: rule, reason });
}

/**
 * Acknowledges an IAM5 wildcard on exactly `resource` (a string that may hold tokens, as passed to a grant),
 * for `scope` and everything below it.
 */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  const flattened = flattenCfnReference(Stack.of(scope).resolve(resource));
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flattened}]`, reason });
}

/** Acknowledges an IAM4 finding for exactly one AWS managed policy, named like `service-role/Name`. */
export function acknowledgeManagedPolicy(scope: IConstruct, policyName: string, reason: string): void {
  Validations.of(scope).acknowledge({
    id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${policyName}]`,
    reason,
  });
}
