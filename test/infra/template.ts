/** Synthesizing the stack for infra tests, and reading one function's resources out of the template. */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ServerlessChatStack, type ServerlessChatStackProps } from '../../lib/chat-stack';
import { constructId } from '../../lib/chat-tables';
import { FUNCTIONS, type FunctionName } from '../../lib/wiring';
import { TABLES, type TableName } from '../../shared/tables';

/** Synthesizes the stack without bundling: asserting on the template needs no esbuild run. */
export function synthStack(props: ServerlessChatStackProps = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return Template.fromStack(new ServerlessChatStack(app, 'Test', props));
}

/** One statement of an IAM policy document, as synthesized. */
export interface PolicyStatementJson {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** The logical id and properties of the Lambda function of wiring `name` (found by its description). */
export function lambdaOf(
  template: Template,
  name: FunctionName,
): { id: string; props: Record<string, unknown> } {
  const found = Object.entries(
    template.findResources('AWS::Lambda::Function', {
      Properties: { Description: FUNCTIONS[name].description },
    }),
  );
  const [entry, ...others] = found;
  if (entry === undefined || others.length > 0)
    throw new Error(`expected one function ${name}, found ${found.length}`);
  return { id: entry[0], props: (entry[1] as { Properties: Record<string, unknown> }).Properties };
}

/** Every statement of every policy attached to the role of function `name`. */
export function roleStatements(template: Template, name: FunctionName): PolicyStatementJson[] {
  const role = lambdaOf(template, name).props.Role as { 'Fn::GetAtt': [string, string] };
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .map((policy) => (policy as { Properties: Record<string, unknown> }).Properties)
    .filter((policy) => JSON.stringify(policy.Roles).includes(`"${role['Fn::GetAtt'][0]}"`))
    .flatMap((policy) => (policy.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement);
}

/** A statement's actions as a list (a single action synthesizes as a string). */
export const actionsOf = (statement: PolicyStatementJson): string[] =>
  Array.isArray(statement.Action) ? statement.Action : [statement.Action];

/** `connections` for the logical id of the connections table (ChatTables names them); the id itself for anything else. */
export function tableOfLogicalId(logicalId: string): string {
  const tables = Object.keys(TABLES) as TableName[];
  return (
    tables.find((table) => new RegExp(`^Tables${constructId(table)}[0-9A-F]{8}$`).test(logicalId)) ??
    logicalId
  );
}
