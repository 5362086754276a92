import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChatApi } from '../../lib/chat-api';
import type { OidcIssuerProps } from '../../lib/chat-auth';
import { ServerlessChatStack, type ServerlessChatStackProps } from '../../lib/chat-stack';
import {
  FANOUT_CONSUMER,
  FUNCTIONS,
  type FunctionName,
  type FunctionWiring,
  type QueueAccess,
  ROUTES,
  type RouteKey,
  routeTarget,
  SHARD_CONSUMER,
  SHARD_QUEUE,
} from '../../lib/wiring';
import { ENV } from '../../shared/env';
import { TABLE_ENV, TABLES, type TableDefinition, type TableName } from '../../shared/tables';

/** Synthesizes the stack without bundling: asserting on the template needs no esbuild run. */
function synth(props: ServerlessChatStackProps = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return Template.fromStack(new ServerlessChatStack(app, 'Test', props));
}

const functionNames = Object.keys(FUNCTIONS) as FunctionName[];
const tableNames = Object.keys(TABLES) as TableName[];
const routeKeys = Object.keys(ROUTES) as RouteKey[];
const wiringOf = (name: FunctionName): FunctionWiring => FUNCTIONS[name];
/** The functions that answer two-way routes: each runs the route kit (shared/route-kit/). */
const twoWayFunctions = [
  ...new Set(
    routeKeys
      .map((key) => routeTarget<FunctionName>(ROUTES[key]))
      .filter((target) => target.routeResponse)
      .map((target) => target.function),
  ),
];

interface Resource {
  Properties: Record<string, unknown>;
}

interface Statement {
  Action: string | string[];
  Resource: unknown;
  Effect: string;
}

function single(found: Record<string, unknown>, what: string): string {
  const ids = Object.keys(found);
  if (ids.length !== 1 || ids[0] === undefined)
    throw new Error(`expected exactly one ${what}, found ${ids.length}`);
  return ids[0];
}

function functionId(template: Template, name: FunctionName): string {
  const found = template.findResources('AWS::Lambda::Function', {
    Properties: { Description: wiringOf(name).description },
  });
  return single(found, `function ${name}`);
}

function functionProps(template: Template, name: FunctionName): Record<string, unknown> {
  const resource = template.toJSON().Resources[functionId(template, name)] as Resource;
  return resource.Properties;
}

function environmentOf(template: Template, name: FunctionName): Record<string, unknown> {
  const environment = functionProps(template, name).Environment as { Variables: Record<string, unknown> };
  return environment.Variables;
}

function keySchema(definition: { partitionKey: { name: string }; sortKey?: { name: string } }): unknown[] {
  return [
    { AttributeName: definition.partitionKey.name, KeyType: 'HASH' },
    ...(definition.sortKey ? [{ AttributeName: definition.sortKey.name, KeyType: 'RANGE' }] : []),
  ];
}

function tableId(template: Template, name: TableName): string {
  const found = template.findResources('AWS::DynamoDB::Table', {
    Properties: { KeySchema: keySchema(TABLES[name]) },
  });
  return single(found, `table ${name}`);
}

function queueIds(template: Template): { queue: string; deadLetterQueue: string } {
  return queuePair(template, 'FanoutQueue', 'FanoutDeadLetterQueue', 'fan-out');
}

/** The logical ids of the FIFO shard queue and its FIFO dead-letter queue. */
function shardQueueIds(template: Template): { queue: string; deadLetterQueue: string } {
  return queuePair(template, 'FanoutShardsQueue', 'FanoutShardsDeadLetterQueue', 'shard');
}

/** A queue and its dead-letter queue, told apart from the other pair by their constructs' logical ids. */
function queuePair(
  template: Template,
  queuePrefix: string,
  deadLetterPrefix: string,
  what: string,
): { queue: string; deadLetterQueue: string } {
  const only = (found: Record<string, unknown>, prefix: string) =>
    Object.fromEntries(Object.entries(found).filter(([id]) => id.startsWith(prefix)));
  const fifo = { FifoQueue: true };
  const queue = single(
    only(
      template.findResources('AWS::SQS::Queue', { Properties: { ...fifo, RedrivePolicy: Match.anyValue() } }),
      queuePrefix,
    ),
    `${what} queue`,
  );
  const deadLetterQueue = single(
    only(
      template.findResources('AWS::SQS::Queue', { Properties: { ...fifo, RedrivePolicy: Match.absent() } }),
      deadLetterPrefix,
    ),
    `${what} dead-letter queue`,
  );
  return { queue, deadLetterQueue };
}

/** Every statement of every policy attached to the function's role. */
function statementsOf(template: Template, name: FunctionName): Statement[] {
  const role = functionProps(template, name).Role as { 'Fn::GetAtt': [string, string] };
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: role['Fn::GetAtt'][0] }]) },
  });
  return Object.values(policies).flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
        .Statement,
  );
}

/** Whether some Allow statement grants `action` on a resource that references `logicalId`. */
function allows(statements: Statement[], action: string, logicalId: string): boolean {
  return statements.some((statement) => {
    const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
    return (
      statement.Effect === 'Allow' &&
      actions.includes(action) &&
      JSON.stringify(statement.Resource).includes(`"${logicalId}"`)
    );
  });
}

function expectedQueueActions(access: QueueAccess): { granted: string[]; denied: string[] } {
  const consume = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'];
  const send = ['sqs:SendMessage'];
  if (access === 'send') return { granted: send, denied: consume };
  if (access === 'consume') return { granted: consume, denied: send };
  return { granted: [...consume, ...send], denied: [] };
}

describe('ServerlessChatStack with default props', () => {
  let template: Template;
  beforeAll(() => {
    template = synth();
  });

  describe('shard queues', () => {
    it('moves a shard job to a FIFO dead-letter queue after 30 failed receives, kept 14 days', () => {
      const { queue, deadLetterQueue } = shardQueueIds(template);
      const resources = template.toJSON().Resources;

      expect(resources[queue].Properties.RedrivePolicy).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueue, 'Arn'] },
        maxReceiveCount: SHARD_QUEUE.defaultMaxReceiveCount,
      });
      expect(resources[deadLetterQueue].Properties.MessageRetentionPeriod).toBe(14 * 24 * 60 * 60);
    });

    it('keeps each shard in order with a message group of its own, under high-throughput FIFO limits', () => {
      const { queue } = shardQueueIds(template);

      expect(template.toJSON().Resources[queue].Properties).toMatchObject({
        FifoQueue: true,
        ContentBasedDeduplication: false,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
      });
    });

    it('feeds the shard worker batches of 10 with partial batch failures, and nothing from the shard DLQ', () => {
      const { queue, deadLetterQueue } = shardQueueIds(template);

      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queue, 'Arn'] },
        FunctionName: { Ref: functionId(template, SHARD_CONSUMER) },
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: SHARD_QUEUE.defaultMaxConcurrency },
      });
      const fromDeadLetters = template.findResources('AWS::Lambda::EventSourceMapping', {
        Properties: { EventSourceArn: { 'Fn::GetAtt': [deadLetterQueue, 'Arn'] } },
      });
      expect(fromDeadLetters).toEqual({});
    });

    it('lets only the fan-out (and the redrive, putting jobs back) send shard jobs and only the shard worker receive them', () => {
      const { queue } = shardQueueIds(template);

      for (const name of functionNames) {
        const statements = statementsOf(template, name);
        expect(allows(statements, 'sqs:SendMessage', queue), `${name} sends`).toBe(
          name === FANOUT_CONSUMER || name === 'dlq',
        );
        expect(allows(statements, 'sqs:ReceiveMessage', queue), `${name} receives`).toBe(
          name === SHARD_CONSUMER,
        );
      }
    });

    it('lets the fan-out and the shard worker shorten the visibility of their own failed records (the fast retry)', () => {
      const fanoutQueue = queueIds(template).queue;
      const shardQueue = shardQueueIds(template).queue;

      expect(
        allows(statementsOf(template, FANOUT_CONSUMER), 'sqs:ChangeMessageVisibility', fanoutQueue),
      ).toBe(true);
      expect(allows(statementsOf(template, SHARD_CONSUMER), 'sqs:ChangeMessageVisibility', shardQueue)).toBe(
        true,
      );
      expect(allows(statementsOf(template, SHARD_CONSUMER), 'sqs:ChangeMessageVisibility', fanoutQueue)).toBe(
        false,
      );
    });

    it('lets only the redrive function receive and delete shard dead letters, and send to none but the shard DLQ', () => {
      const { queue, deadLetterQueue } = shardQueueIds(template);

      for (const name of functionNames) {
        const statements = statementsOf(template, name);
        for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']) {
          expect(allows(statements, action, deadLetterQueue), `${name} ${action}`).toBe(name === 'dlq');
        }
        expect(allows(statements, 'sqs:SendMessage', deadLetterQueue), `${name} sends dead letters`).toBe(
          false,
        );
      }
      // It finds the shard DLQ through the shard queue's redrive policy, then its URL.
      const redrive = statementsOf(template, 'dlq');
      expect(allows(redrive, 'sqs:GetQueueAttributes', queue)).toBe(true);
      expect(allows(redrive, 'sqs:GetQueueUrl', deadLetterQueue)).toBe(true);
    });
  });

  describe('fan-out queues', () => {
    it('moves a fan-out message to a FIFO dead-letter queue after 30 failed receives', () => {
      const { deadLetterQueue } = queueIds(template);

      template.hasResourceProperties('AWS::SQS::Queue', {
        FifoQueue: true,
        ContentBasedDeduplication: false,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueue, 'Arn'] },
          maxReceiveCount: 30,
        },
      });
      template.hasResourceProperties('AWS::SQS::Queue', {
        FifoQueue: true,
        ContentBasedDeduplication: false,
        RedrivePolicy: Match.absent(),
      });
    });

    it('encrypts every queue, the shard pair too, with SQS-managed keys and denies every request made without TLS', () => {
      const pairs = [queueIds(template), shardQueueIds(template)];

      for (const id of pairs.flatMap((ids) => [ids.queue, ids.deadLetterQueue])) {
        expect(template.toJSON().Resources[id].Properties.SqsManagedSseEnabled).toBe(true);
        template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: id }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Action: 'sqs:*',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              }),
            ]),
          },
        });
      }
    });

    it.each([
      ['fan-out', queueIds, FANOUT_CONSUMER],
      ['shard', shardQueueIds, SHARD_CONSUMER],
    ] as const)(
      'keeps a %s message invisible for at least six of its consumer timeouts, so retries do not overlap',
      (_, ids, consumer) => {
        const { queue } = ids(template);

        const visibility = template.toJSON().Resources[queue].Properties.VisibilityTimeout as number;
        const timeout = functionProps(template, consumer).Timeout as number;

        expect(visibility).toBeGreaterThanOrEqual(6 * timeout);
      },
    );

    it('feeds the fan-out function batches of 10 with partial batch failures and at most 10 concurrent runs', () => {
      const { queue } = queueIds(template);

      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queue, 'Arn'] },
        FunctionName: { Ref: functionId(template, FANOUT_CONSUMER) },
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 10 },
      });
    });

    it('feeds no function from the dead-letter queue, so dead letters wait for an explicit redrive', () => {
      const { deadLetterQueue } = queueIds(template);

      const mappings = template.findResources('AWS::Lambda::EventSourceMapping', {
        Properties: { EventSourceArn: { 'Fn::GetAtt': [deadLetterQueue, 'Arn'] } },
      });

      expect(Object.keys(mappings)).toEqual([]);
    });
  });

  describe('WebSocket API', () => {
    it('selects the route from the action field of each frame', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
        ProtocolType: 'WEBSOCKET',
        RouteSelectionExpression: '$request.body.action',
      });
    });

    it.each(routeKeys)('routes %s to the function lib/wiring.ts names', (routeKey) => {
      const route = single(
        template.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: routeKey } }),
        `route ${routeKey}`,
      );
      const target = JSON.stringify(template.toJSON().Resources[route].Properties.Target);
      const integrationId = /"Ref":"([^"]+)"/.exec(target)?.[1] ?? '';

      const integration = template.toJSON().Resources[integrationId] as Resource | undefined;

      expect(integration?.Properties.IntegrationType).toBe('AWS_PROXY');
      expect(JSON.stringify(integration?.Properties.IntegrationUri)).toContain(
        `"${functionId(template, routeTarget(ROUTES[routeKey]).function)}"`,
      );
    });

    it('makes every route except $connect and $disconnect two-way, so the handler result is the reply frame', () => {
      for (const routeKey of routeKeys) {
        const routes = template.findResources('AWS::ApiGatewayV2::Route', {
          Properties: { RouteKey: routeKey },
        });
        const routeId = single(routes, `route ${routeKey}`);
        const responses = template.findResources('AWS::ApiGatewayV2::RouteResponse', {
          Properties: { RouteId: { Ref: routeId }, RouteResponseKey: '$default' },
        });

        const oneWay = routeKey === '$connect' || routeKey === '$disconnect';

        expect(Object.keys(responses), routeKey).toHaveLength(oneWay ? 0 : 1);
      }
    });

    it('gives a route response to exactly the routes whose wiring has one, and to no other', () => {
      const twoWay = routeKeys.filter((routeKey) => routeTarget(ROUTES[routeKey]).routeResponse);
      const withResponse = Object.values(template.findResources('AWS::ApiGatewayV2::RouteResponse')).map(
        (response) => {
          const routeId = ((response as Resource).Properties.RouteId as { Ref: string }).Ref;
          return (template.toJSON().Resources[routeId] as Resource).Properties.RouteKey;
        },
      );

      expect(withResponse.sort()).toEqual([...twoWay].sort());
      expect(twoWay).not.toContain('$connect');
      expect(twoWay).not.toContain('$disconnect');
    });

    it('authorizes $connect, and only $connect, with a REQUEST authorizer reading the token query parameter', () => {
      const authorizer = single(
        template.findResources('AWS::ApiGatewayV2::Authorizer', {
          Properties: { AuthorizerType: 'REQUEST', IdentitySource: ['route.request.querystring.token'] },
        }),
        'authorizer',
      );

      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: '$connect',
        AuthorizationType: 'CUSTOM',
        AuthorizerId: { Ref: authorizer },
      });
      expect(JSON.stringify(template.toJSON().Resources[authorizer].Properties.AuthorizerUri)).toContain(
        `"${functionId(template, 'authorizer')}"`,
      );
      const authorized = template.findResources('AWS::ApiGatewayV2::Route', {
        Properties: { AuthorizationType: 'CUSTOM' },
      });
      expect(Object.keys(authorized)).toHaveLength(1);
    });

    it('deploys a prod stage throttled at 100 requests per second with bursts of 200, with access logs', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: 'prod',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
        AccessLogSettings: {
          DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('AccessLogs'), 'Arn'] },
          Format: Match.stringLikeRegexp('\\$context\\.requestId'),
        },
      });
    });
  });

  describe('tables', () => {
    it.each(tableNames)('creates the %s table from its TABLES definition', (name) => {
      const definition: TableDefinition = TABLES[name];
      const indexes = definition.globalSecondaryIndexes ?? [];

      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          KeySchema: keySchema(definition),
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { SSEEnabled: true, SSEType: Match.absent(), KMSMasterKeyId: Match.absent() },
          TimeToLiveSpecification: definition.timeToLiveAttribute
            ? { AttributeName: definition.timeToLiveAttribute, Enabled: true }
            : Match.absent(),
          GlobalSecondaryIndexes: indexes.length
            ? indexes.map((index) => ({
                IndexName: index.indexName,
                KeySchema: keySchema(index),
                Projection: {
                  ProjectionType: index.projection,
                  ...(index.nonKeyAttributes === undefined
                    ? {}
                    : { NonKeyAttributes: index.nonKeyAttributes }),
                },
              }))
            : Match.absent(),
        },
      });
    });
  });

  describe('conversation list index', () => {
    it('copies only readSeq into byMember, so the send bucket and the typing throttle never write the index', () => {
      const table = template.toJSON().Resources[tableId(template, 'conversations')] as Resource;

      expect(table.Properties.GlobalSecondaryIndexes).toEqual([
        {
          IndexName: 'byMember',
          KeySchema: [
            { AttributeName: 'memberId', KeyType: 'HASH' },
            { AttributeName: 'conversationId', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['readSeq'] },
          OnDemandThroughput: { MaxReadRequestUnits: 1000, MaxWriteRequestUnits: 500 },
        },
      ]);
    });
  });

  describe('presence index', () => {
    it('gives the connections table a keys-only byUser index on (userId, connectionId)', () => {
      const table = template.toJSON().Resources[tableId(template, 'connections')] as Resource;

      expect(table.Properties.GlobalSecondaryIndexes).toEqual([
        {
          IndexName: 'byUser',
          KeySchema: [
            { AttributeName: 'userId', KeyType: 'HASH' },
            { AttributeName: 'connectionId', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
          OnDemandThroughput: { MaxReadRequestUnits: 1000, MaxWriteRequestUnits: 500 },
        },
      ]);
      expect(table.Properties.AttributeDefinitions).toEqual(
        expect.arrayContaining([{ AttributeName: 'userId', AttributeType: 'S' }]),
      );
    });
  });

  describe('functions', () => {
    it.each(functionNames)(
      'runs %s on Node.js 22, ARM64, traced, with the wiring timeout and memory and no --enable-source-maps',
      (name) => {
        const props = functionProps(template, name);

        expect(props).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          TracingConfig: { Mode: 'Active' },
          Timeout: wiringOf(name).timeoutSeconds ?? 10,
          MemorySize: wiringOf(name).memoryMiB ?? 256,
          LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
        });
        expect(environmentOf(template, name).NODE_OPTIONS).toBeUndefined();
      },
    );

    it('gives each function a log group with a retention period instead of the never-expiring default', () => {
      for (const name of functionNames) {
        const logging = functionProps(template, name).LoggingConfig as { LogGroup: { Ref: string } };

        const logGroup = template.toJSON().Resources[logging.LogGroup.Ref] as Resource;

        expect(logGroup.Properties.RetentionInDays, name).toBe(30);
      }
    });

    it.each(functionNames)('gives %s exactly the environment variables its wiring implies', (name) => {
      const wiring = wiringOf(name);
      const expected = [
        ...Object.keys(wiring.tables).map((table) => TABLE_ENV[table as TableName]),
        ...(wiring.fanoutQueue ? [ENV.fanoutQueueUrl] : []),
        ...(wiring.deadLetterQueue ? [ENV.deadLetterQueueUrl] : []),
        ...(wiring.shardQueue ? [ENV.shardQueueUrl] : []),
        ...(wiring.managementApi ? [ENV.managementEndpoint] : []),
        ...(wiring.verifiesTokens
          ? [ENV.jwtIssuer, ENV.jwtJwksUrl, ENV.jwtAudience, ENV.jwtMaxLifetimeSeconds]
          : []),
        ...(wiring.attachments ? [ENV.attachmentsBucket] : []),
        ...(wiring.eventBus ? [ENV.offlineEventBus] : []),
      ];

      expect(Object.keys(environmentOf(template, name)).sort()).toEqual(expected.sort());
    });

    it.each(functionNames)('grants %s the queue access its wiring lists, next to each queue URL', (name) => {
      const statements = statementsOf(template, name);
      const environment = environmentOf(template, name);
      const ids = queueIds(template);
      const shards = shardQueueIds(template);
      const wiring = wiringOf(name);
      const uses = [
        { access: wiring.fanoutQueue, id: ids.queue, env: ENV.fanoutQueueUrl },
        { access: wiring.deadLetterQueue, id: ids.deadLetterQueue, env: ENV.deadLetterQueueUrl },
        { access: wiring.shardQueue, id: shards.queue, env: ENV.shardQueueUrl },
        // Only the redrive consumes it; no variable names it (the shard queue's redrive policy does).
        { access: wiring.shardDeadLetterQueue, id: shards.deadLetterQueue, env: undefined },
      ];

      for (const { access, id, env } of uses) {
        const { granted, denied } = access
          ? expectedQueueActions(access)
          : { granted: [], denied: ['sqs:SendMessage', 'sqs:ReceiveMessage'] };
        for (const action of granted) expect(allows(statements, action, id), `${action} on ${id}`).toBe(true);
        for (const action of denied) expect(allows(statements, action, id), `${action} on ${id}`).toBe(false);
        if (access && env) expect(environment[env]).toEqual({ Ref: id });
      }
    });

    it('lets only the functions wired to the management API manage connections, on @connections/* of the stage', () => {
      for (const name of functionNames) {
        const grants = statementsOf(template, name).filter(
          (s) => s.Action === 'execute-api:ManageConnections',
        );

        if (!wiringOf(name).managementApi) {
          expect(grants, name).toEqual([]);
          continue;
        }
        expect(grants).toHaveLength(1);
        const resource = JSON.stringify(grants[0]?.Resource);
        expect(resource).toMatch(/\/prod\/\*\/@connections\/\*"\]\]\}$/);
        const callbackUrl = template.findOutputs('ManagementEndpoint').ManagementEndpoint?.Value;
        expect(JSON.stringify(callbackUrl)).toMatch(/^\{"Fn::Join":\["",\["https:\/\//);
        expect(environmentOf(template, name)[ENV.managementEndpoint]).toEqual(callbackUrl);
      }
    });

    it.each(['conversations', 'connect'] as const)(
      'lets %s post typing and presence events: ManageConnections on @connections/* of the API, and its endpoint',
      (name) => {
        const api = single(template.findResources('AWS::ApiGatewayV2::Api'), 'WebSocket API');

        const grants = statementsOf(template, name).filter(
          (s) => s.Action === 'execute-api:ManageConnections',
        );

        expect(grants).toHaveLength(1);
        expect(grants[0]?.Effect).toBe('Allow');
        const resource = JSON.stringify(grants[0]?.Resource);
        expect(resource).toContain(`{"Ref":"${api}"}`);
        expect(resource).toMatch(/\/prod\/\*\/@connections\/\*"\]\]\}$/);
        expect(environmentOf(template, name)[ENV.managementEndpoint]).toEqual(
          template.findOutputs('ManagementEndpoint').ManagementEndpoint?.Value,
        );
      },
    );

    it.each(twoWayFunctions)(
      'lets %s close a connection that keeps sending while refused: ManageConnections on @connections/* of the stage, and its endpoint',
      (name) => {
        const grants = statementsOf(template, name).filter(
          (s) => s.Action === 'execute-api:ManageConnections',
        );

        expect(grants).toHaveLength(1);
        expect(grants[0]?.Effect).toBe('Allow');
        expect(JSON.stringify(grants[0]?.Resource)).toMatch(/\/prod\/\*\/@connections\/\*"\]\]\}$/);
        expect(environmentOf(template, name)[ENV.managementEndpoint]).toEqual(
          template.findOutputs('ManagementEndpoint').ManagementEndpoint?.Value,
        );
      },
    );

    it('points the authorizer at the user pool issuer, its JWKS and the app client as audience', () => {
      const pool = single(template.findResources('AWS::Cognito::UserPool'), 'user pool');
      const client = single(template.findResources('AWS::Cognito::UserPoolClient'), 'user pool client');

      const environment = environmentOf(template, 'authorizer');

      expect(environment[ENV.jwtIssuer]).toEqual({ 'Fn::GetAtt': [pool, 'ProviderURL'] });
      expect(environment[ENV.jwtJwksUrl]).toEqual({
        'Fn::Join': ['', [{ 'Fn::GetAtt': [pool, 'ProviderURL'] }, '/.well-known/jwks.json']],
      });
      expect(environment[ENV.jwtAudience]).toEqual({ Ref: client });
      expect(environment[ENV.jwtMaxLifetimeSeconds]).toBe('86400');
    });
  });

  describe('authentication', () => {
    it('creates an invitation-only user pool with a strong password policy and enforced threat protection', () => {
      template.hasResource('AWS::Cognito::UserPool', {
        DeletionPolicy: 'Retain',
        Properties: {
          AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
          Policies: {
            PasswordPolicy: {
              MinimumLength: 12,
              RequireLowercase: true,
              RequireUppercase: true,
              RequireNumbers: true,
              RequireSymbols: true,
            },
          },
          UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
        },
      });
    });

    it('creates a browser app client without a secret that signs in with SRP and has no callback URL', () => {
      const clients = template.findResources('AWS::Cognito::UserPoolClient');
      const properties = clients[single(clients, 'user pool client')]?.Properties ?? {};

      expect(properties).toMatchObject({
        GenerateSecret: false,
        ExplicitAuthFlows: expect.arrayContaining(['ALLOW_USER_SRP_AUTH']),
        AllowedOAuthFlowsUserPoolClient: false,
      });
      expect(properties).not.toHaveProperty('CallbackURLs');
      expect(JSON.stringify(template.toJSON())).not.toContain('localhost');
    });

    it('lets an operator with IAM rights on the pool sign in for a user, and never with a bare password', () => {
      const clients = template.findResources('AWS::Cognito::UserPoolClient');
      const flows = clients[single(clients, 'user pool client')]?.Properties?.ExplicitAuthFlows as string[];
      expect(flows).toContain('ALLOW_ADMIN_USER_PASSWORD_AUTH');
      expect(flows).not.toContain('ALLOW_USER_PASSWORD_AUTH');
    });
  });

  describe('alarms', () => {
    const notifiesTopic = { AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmsTopic') }] };
    const breachesAbove = (threshold: number) => ({
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: threshold,
      TreatMissingData: 'notBreaching',
      ...notifiesTopic,
    });

    it('raises an alarm as soon as one message is in the dead-letter queue', () => {
      const { deadLetterQueue } = queueIds(template);

      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetterQueue, 'QueueName'] } }],
        ...breachesAbove(0),
      });
    });

    it('raises an alarm as soon as one shard job is in the shard dead-letter queue', () => {
      const { deadLetterQueue } = shardQueueIds(template);

      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetterQueue, 'QueueName'] } }],
        ...breachesAbove(0),
      });
    });

    it('raises an alarm when the oldest fan-out message is older than 60 seconds', () => {
      const { queue } = queueIds(template);

      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
        ...breachesAbove(60),
      });
    });

    it.each(functionNames)('raises an alarm on any error of the %s function', (name) => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(template, name) } }],
        ...breachesAbove(0),
      });
    });

    it('sends alarms to a KMS-encrypted topic that refuses publishing without TLS', () => {
      template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('TopicKey'), 'Arn'] },
      });
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
      template.resourceCountIs('AWS::SNS::Subscription', 0);
    });

    it('lets CloudWatch use the topic key, without which encrypted alarm notifications are dropped', () => {
      template.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: Match.arrayWith(['kms:Decrypt', 'kms:GenerateDataKey*']),
            }),
          ]),
        },
      });
    });
  });

  describe('outputs', () => {
    it('outputs the wss:// URL and the https:// management endpoint of the stage', () => {
      template.hasOutput('WebSocketUrl', {
        Value: { 'Fn::Join': ['', Match.arrayWith(['wss://', Match.stringLikeRegexp('/prod$')])] },
      });
      template.hasOutput('ManagementEndpoint', {
        Value: { 'Fn::Join': ['', Match.arrayWith(['https://', Match.stringLikeRegexp('/prod$')])] },
      });
    });

    it('outputs every table name, both queues, the redrive function and the user pool ids', () => {
      const ids = queueIds(template);

      for (const name of tableNames) {
        const outputId = `${name.charAt(0).toUpperCase()}${name.slice(1)}TableName`;
        template.hasOutput(outputId, { Value: { Ref: tableId(template, name) } });
      }
      template.hasOutput('FanoutQueueUrl', { Value: { Ref: ids.queue } });
      template.hasOutput('FanoutQueueName', { Value: { 'Fn::GetAtt': [ids.queue, 'QueueName'] } });
      template.hasOutput('DeadLetterQueueUrl', { Value: { Ref: ids.deadLetterQueue } });
      template.hasOutput('DeadLetterQueueName', {
        Value: { 'Fn::GetAtt': [ids.deadLetterQueue, 'QueueName'] },
      });
      template.hasOutput('RedriveFunctionName', { Value: { Ref: functionId(template, 'dlq') } });
      const shards = shardQueueIds(template);
      template.hasOutput('ShardQueueUrl', { Value: { Ref: shards.queue } });
      template.hasOutput('ShardDeadLetterQueueArn', {
        Value: { 'Fn::GetAtt': [shards.deadLetterQueue, 'Arn'] },
      });
      template.hasOutput('UserPoolId', { Value: { Ref: Match.stringLikeRegexp('UserPool') } });
      template.hasOutput('UserPoolClientId', { Value: { Ref: Match.stringLikeRegexp('WebClient') } });
    });
  });
});

describe('ServerlessChatStack with every prop set', () => {
  let template: Template;
  beforeAll(() => {
    template = synth({
      maxReceiveCount: 3,
      fanoutMaxConcurrency: 50,
      throttle: { rateLimit: 5, burstLimit: 10 },
      stageName: 'dev',
      alarmEmail: 'ops@example.com',
      oldestMessageAgeAlarmSeconds: 120,
      removalPolicy: RemovalPolicy.DESTROY,
      createApiGatewayCloudWatchRole: true,
    });
  });

  it('moves a message to the dead-letter queue after the configured number of receives', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }),
    });
  });

  it('caps concurrent fan-out invocations at the configured maximum', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      ScalingConfig: { MaximumConcurrency: 50 },
    });
  });

  it('throttles and names the stage as configured, and scopes connection management to that stage', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'dev',
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
    const grant = statementsOf(template, FANOUT_CONSUMER).find(
      (s) => s.Action === 'execute-api:ManageConnections',
    );
    expect(JSON.stringify(grant?.Resource)).toMatch(/\/dev\/\*\/@connections\/\*"\]\]\}$/);
    template.hasOutput('WebSocketUrl', {
      Value: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('/dev$')])] },
    });
  });

  it('alarms on the configured backlog age and emails the configured address', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: 120,
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  it('deletes tables and the user pool with the stack when asked to', () => {
    for (const name of tableNames) {
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Delete',
        Properties: { KeySchema: keySchema(TABLES[name]) },
      });
    }
    template.hasResource('AWS::Cognito::UserPool', { DeletionPolicy: 'Delete' });
  });

  it('sets the account-wide API Gateway logging role before the stage that logs through it', () => {
    const account = single(template.findResources('AWS::ApiGateway::Account'), 'API Gateway account');

    template.hasResource('AWS::ApiGatewayV2::Stage', { DependsOn: Match.arrayWith([account]) });
  });
});

describe('ServerlessChatStack with an existing OIDC issuer', () => {
  const oidc = {
    issuer: 'https://login.example.com/',
    jwksUrl: 'https://login.example.com/.well-known/jwks.json',
    audience: 'chat-api',
    maxTokenLifetime: Duration.hours(8),
  };
  let template: Template;
  beforeAll(() => {
    template = synth({ oidc });
  });

  it('creates no user pool and outputs no user pool ids', () => {
    template.resourceCountIs('AWS::Cognito::UserPool', 0);
    template.resourceCountIs('AWS::Cognito::UserPoolClient', 0);
    expect(Object.keys(template.findOutputs('UserPoolId'))).toEqual([]);
    expect(Object.keys(template.findOutputs('UserPoolClientId'))).toEqual([]);
  });

  it('passes the issuer, its JWKS URL and the audience to the authorizer', () => {
    const environment = environmentOf(template, 'authorizer');

    expect(environment[ENV.jwtIssuer]).toBe(oidc.issuer);
    expect(environment[ENV.jwtJwksUrl]).toBe(oidc.jwksUrl);
    expect(environment[ENV.jwtAudience]).toBe(oidc.audience);
    expect(environment[ENV.jwtMaxLifetimeSeconds]).toBe('28800');
  });
});

describe('ServerlessChatStack with Cognito callback URLs', () => {
  it('gives the app client the code flow with the https callback URLs given, and no localhost', () => {
    const template = synth({ cognito: { callbackUrls: ['https://chat.example.com/'] } });

    template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      AllowedOAuthFlows: ['code'],
      CallbackURLs: ['https://chat.example.com/'],
      LogoutURLs: ['https://chat.example.com/'],
    });
    expect(JSON.stringify(template.toJSON())).not.toContain('localhost');
  });

  it('adds the local web page as callback only when localhostCallback asks for it', () => {
    const template = synth({ cognito: { localhostCallback: true } });

    template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      AllowedOAuthFlows: ['code'],
      CallbackURLs: ['http://localhost:5173/'],
    });
  });

  it('passes a configured maximum token lifetime to the authorizer', () => {
    const template = synth({ cognito: { maxTokenLifetime: Duration.hours(2) } });

    expect(environmentOf(template, 'authorizer')[ENV.jwtMaxLifetimeSeconds]).toBe('7200');
  });
});

describe('ServerlessChatStack props validation', () => {
  const oidc = {
    issuer: 'https://login.example.com',
    jwksUrl: 'https://login.example.com/jwks',
    audience: 'chat-api',
  };

  it.each<[string, ServerlessChatStackProps, RegExp]>([
    [
      'maxReceiveCount below 1',
      { maxReceiveCount: 0 },
      /maxReceiveCount must be an integer from 1 to 1000; got 0/,
    ],
    ['a fractional maxReceiveCount', { maxReceiveCount: 2.5 }, /maxReceiveCount must be an integer/],
    [
      'fanoutMaxConcurrency below 2',
      { fanoutMaxConcurrency: 1 },
      /fanoutMaxConcurrency must be an integer from 2 to 1000/,
    ],
    ['fanoutMaxConcurrency above 1000', { fanoutMaxConcurrency: 1001 }, /fanoutMaxConcurrency .* got 1001/],
    [
      'a zero throttle rate',
      { throttle: { rateLimit: 0 } },
      /throttle\.rateLimit must be a number greater than 0/,
    ],
    [
      'a negative throttle burst',
      { throttle: { burstLimit: -1 } },
      /throttle\.burstLimit must be a number greater than 0/,
    ],
    [
      'a zero backlog alarm threshold',
      { oldestMessageAgeAlarmSeconds: 0 },
      /oldestMessageAgeAlarmSeconds must be/,
    ],
    [
      'oidc together with cognito options',
      { oidc, cognito: { selfSignUpEnabled: true } },
      /oidc and cognito cannot both be set/,
    ],
    [
      'an oidc issuer over plain http',
      { oidc: { ...oidc, issuer: 'http://login.example.com' } },
      /oidc\.issuer must be an https URL/,
    ],
    [
      'an oidc JWKS URL that is not a URL',
      { oidc: { ...oidc, jwksUrl: 'jwks' } },
      /oidc\.jwksUrl must be an https URL/,
    ],
    [
      'an oidc issuer without an audience',
      { oidc: { issuer: oidc.issuer, jwksUrl: oidc.jwksUrl } as OidcIssuerProps },
      /oidc\.audience is required: without it the authorizer would accept tokens the issuer minted for any/,
    ],
    ['an empty oidc audience', { oidc: { ...oidc, audience: ' ' } }, /oidc\.audience is required/],
    [
      'a Cognito callback URL over plain http',
      { cognito: { callbackUrls: ['http://chat.example.com/'] } },
      /cognito\.callbackUrls must be https URLs; got 'http:\/\/chat\.example\.com\/'/,
    ],
    ['a stage name with a slash', { stageName: 'prod/v1' }, /stageName must be 1-128 letters/],
    ['an alarm email without @', { alarmEmail: 'ops.example.com' }, /alarmEmail must be an email address/],
  ])('refuses %s at synth with a message naming the prop', (_case, props, message) => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });

    expect(() => new ServerlessChatStack(app, 'Invalid', props)).toThrow(message);
  });
});

describe('ChatApi with a one-way route in its wiring', () => {
  /** The routes of lib/wiring.ts plus `notify`, one-way, and `ping`, two-way, on the send function. */
  function synthApi(): Template {
    const stack = new Stack(new App(), 'OneWay');
    const functions = Object.fromEntries(
      functionNames.map((name) => [
        name,
        new LambdaFunction(stack, `Fn${name}`, {
          runtime: Runtime.NODEJS_20_X,
          handler: 'index.handler',
          code: Code.fromInline('exports.handler = async () => ({ statusCode: 200 });'),
        }),
      ]),
    ) as Record<FunctionName, LambdaFunction>;
    new ChatApi(stack, 'Api', {
      functions,
      authorizer: functions.authorizer,
      stageName: 'test',
      throttle: { rateLimit: 1, burstLimit: 1 },
      routes: { ...ROUTES, notify: { function: 'send', routeResponse: false }, ping: 'send' },
    });
    return Template.fromStack(stack);
  }

  function routeResponsesOf(template: Template, routeKey: string): string[] {
    const routeId = single(
      template.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: routeKey } }),
      `route ${routeKey}`,
    );
    return Object.keys(
      template.findResources('AWS::ApiGatewayV2::RouteResponse', {
        Properties: { RouteId: { Ref: routeId } },
      }),
    );
  }

  it('deploys the one-way route with no route response and the two-way one with a $default response', () => {
    const template = synthApi();

    expect(routeResponsesOf(template, 'notify')).toHaveLength(0);
    expect(routeResponsesOf(template, 'ping')).toHaveLength(1);
    expect(routeResponsesOf(template, '$connect')).toHaveLength(0);
    template.hasResourceProperties('AWS::ApiGatewayV2::RouteResponse', { RouteResponseKey: '$default' });
  });
});

describe('ServerlessChatStack attachments bucket', () => {
  let template: Template;
  let bucketId: string;
  beforeAll(() => {
    template = synth();
    bucketId = single(template.findResources('AWS::S3::Bucket'), 'attachments bucket');
  });

  it('is encrypted, private, and refuses requests without TLS', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('lets browsers POST uploads and GET with presigned requests (CORS), and never PUT', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: {
        CorsRules: [
          Match.objectLike({
            AllowedMethods: ['POST', 'GET'],
            AllowedHeaders: ['content-type', 'content-length'],
          }),
        ],
      },
    });
  });

  it('expires unconfirmed uploads (uploads/) after a day, and aborts abandoned multipart uploads', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [
          Match.objectLike({
            Id: 'ExpireUnconfirmedUploads',
            Prefix: 'uploads/',
            ExpirationInDays: 1,
            Status: 'Enabled',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          }),
          Match.objectLike({
            Prefix: 'conversations/',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          }),
        ],
      },
    });
  });

  it('grants the attachments function its object actions per prefix, the send function read and delete of confirmed attachments, and nobody else anything', () => {
    const objects = (prefix: string) => ({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}*`]],
    });
    const onBucket = (name: FunctionName) =>
      statementsOf(template, name).filter((statement) =>
        JSON.stringify(statement.Resource).includes(`"${bucketId}"`),
      );
    expect(onBucket('attachments')).toEqual([
      {
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'],
        Resource: objects('uploads/'),
      },
      { Effect: 'Allow', Action: ['s3:PutObject', 's3:GetObject'], Resource: objects('conversations/') },
    ]);
    expect(onBucket('send')).toEqual([
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:DeleteObject'], Resource: objects('conversations/') },
    ]);
    for (const name of ['attachments', 'send'] as const) {
      expect(environmentOf(template, name)[ENV.attachmentsBucket]).toEqual({ Ref: bucketId });
    }
    for (const name of functionNames.filter((fn) => fn !== 'attachments' && fn !== 'send')) {
      expect(JSON.stringify(statementsOf(template, name))).not.toContain(`"${bucketId}"`);
      expect(environmentOf(template, name)).not.toHaveProperty(ENV.attachmentsBucket);
    }
  });
});

describe('ServerlessChatStack offline-member bus', () => {
  let template: Template;
  let busId: string;
  beforeAll(() => {
    template = synth();
    busId = single(template.findResources('AWS::Events::EventBus'), 'offline event bus');
  });

  it('is a custom bus named after the stack', () => {
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'Test-chat-offline' });
  });

  it('grants only the fan-out function events:PutEvents, on this bus only, and passes its name', () => {
    const statements = statementsOf(template, 'fanout').filter((statement) =>
      JSON.stringify(statement.Action).includes('events:'),
    );
    expect(statements).toEqual([
      { Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [busId, 'Arn'] } },
    ]);
    expect(environmentOf(template, 'fanout')[ENV.offlineEventBus]).toEqual({ Ref: busId });
    for (const name of functionNames.filter((fn) => fn !== 'fanout')) {
      expect(JSON.stringify(statementsOf(template, name))).not.toContain('events:');
      expect(environmentOf(template, name)).not.toHaveProperty(ENV.offlineEventBus);
    }
  });
});
