/**
 * Each function's DynamoDB grant is exactly what lib/wiring.ts declares for it, table by table and
 * index by index: a broader grant (Scan, stream reads, a table the function never names) would let a
 * bug or an injected call reach data the function has no business with.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionName, type TableGrant } from '../../lib/wiring';
import { TABLE_ENV, TABLES, type TableName } from '../../shared/tables';
import { actionsOf, lambdaOf, roleStatements, synthStack, tableOfLogicalId } from './template';

const functionNames = Object.keys(FUNCTIONS) as FunctionName[];
const tableNames = Object.keys(TABLES) as TableName[];

/** A granted resource as `table` or `table/index/<index>`; anything else as its JSON, which no expectation matches. */
function resourceName(resource: unknown): string {
  const json = JSON.stringify(resource);
  const table = /^\{"Fn::GetAtt":\["([^"]+)","Arn"\]\}$/.exec(json);
  if (table?.[1]) return tableOfLogicalId(table[1]);
  const index = /^\{"Fn::Join":\["",\[\{"Fn::GetAtt":\["([^"]+)","Arn"\]\},"\/index\/([^"*]+)"\]\]\}$/.exec(
    json,
  );
  if (index?.[1] && index[2]) return `${tableOfLogicalId(index[1])}/index/${index[2]}`;
  return json;
}

/** Resource → sorted DynamoDB actions the function's role allows on it. */
function dynamoGrants(template: Template, name: FunctionName): Record<string, string[]> {
  const grants: Record<string, Set<string>> = {};
  for (const statement of roleStatements(template, name)) {
    const actions = actionsOf(statement).filter((action) => action.startsWith('dynamodb:'));
    if (statement.Effect !== 'Allow' || actions.length === 0) continue;
    const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
    for (const resource of resources) {
      const key = resourceName(resource);
      grants[key] ??= new Set();
      for (const action of actions) grants[key].add(action);
    }
  }
  return Object.fromEntries(Object.entries(grants).map(([key, actions]) => [key, [...actions].sort()]));
}

/** What the wiring declares, in the same shape. */
function declaredGrants(name: FunctionName): Record<string, string[]> {
  const declared: Record<string, string[]> = {};
  for (const [table, grant] of Object.entries(FUNCTIONS[name].tables) as [TableName, TableGrant][]) {
    if (grant.actions.length > 0)
      declared[table] = grant.actions.map((action) => `dynamodb:${action}`).sort();
    for (const index of grant.queryIndexes ?? []) declared[`${table}/index/${index}`] = ['dynamodb:Query'];
  }
  return declared;
}

describe('DynamoDB grants', () => {
  let template: Template;
  beforeAll(() => {
    template = synthStack();
  });

  it.each(functionNames)(
    'grants %s exactly the actions its wiring declares, per table and per index',
    (name) => {
      expect(dynamoGrants(template, name)).toEqual(declaredGrants(name));
    },
  );

  it.each(functionNames)('passes %s the name of each table it is granted, and of no other', (name) => {
    const variables = (lambdaOf(template, name).props.Environment as { Variables: Record<string, unknown> })
      .Variables;

    for (const table of tableNames) {
      const wired = table in FUNCTIONS[name].tables;
      const variable = variables[TABLE_ENV[table]] as { Ref: string } | undefined;
      expect(variable === undefined ? undefined : tableOfLogicalId(variable.Ref), `${name} ${table}`).toBe(
        wired ? table : undefined,
      );
    }
  });

  it('grants no Scan, no stream read and no table-wide wildcard to any role of the stack', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) =>
        (
          policy as {
            Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } };
          }
        ).Properties.PolicyDocument.Statement,
    );

    const actions = statements.flatMap((statement) => actionsOf({ Effect: 'Allow', ...statement }));
    expect(
      actions.filter((action) =>
        /^dynamodb:(Scan|GetRecords|GetShardIterator|DescribeStream|ListStreams|\*)$/.test(action),
      ),
    ).toEqual([]);
    const dynamoResources = statements
      .filter((statement) =>
        actionsOf({ Effect: 'Allow', ...statement }).some((a) => a.startsWith('dynamodb:')),
      )
      .map((statement) => JSON.stringify(statement.Resource));
    expect(dynamoResources.filter((resource) => resource.includes('*'))).toEqual([]);
  });

  it('names the user of every request in the access log: the principal the $connect authorizer returned', () => {
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0] as {
      Properties: { AccessLogSettings: { Format: string } };
    };

    const format = JSON.parse(stage.Properties.AccessLogSettings.Format) as Record<string, string>;

    expect(format.principalId).toBe('$context.authorizer.principalId');
  });

  it("lets the attachments function read a member item by key and take its user's frame budget, nothing else", () => {
    expect(dynamoGrants(template, 'attachments')).toEqual({
      conversations: ['dynamodb:GetItem'],
      connections: ['dynamodb:UpdateItem'],
    });
  });
});
