/**
 * Capacity one client cannot take from the others: route throttles on the stage, reserved concurrency
 * (opt-in), and an on-demand throughput cap on every table, each configurable and refused at synth
 * when the values conflict.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_ROUTE_THROTTLES,
  DEFAULT_TABLE_THROUGHPUT,
  type ServerlessChatStackProps,
  SUGGESTED_RESERVED_CONCURRENCY,
} from '../../lib/chat-stack';
import { FUNCTIONS, type FunctionName } from '../../lib/wiring';
import { TABLES, type TableDefinition, type TableName } from '../../shared/tables';
import { lambdaOf, synthStack, tableOfLogicalId } from './template';

const functionNames = Object.keys(FUNCTIONS) as FunctionName[];

interface Resource {
  Properties: Record<string, unknown>;
  DependsOn?: string[];
}

function onlyResource(template: Template, type: string): Resource {
  const [resource, ...others] = Object.values(template.findResources(type)) as Resource[];
  if (resource === undefined || others.length > 0) throw new Error(`expected one ${type}`);
  return resource;
}

/** The stage's RouteSettings, as CloudFormation receives them. */
const routeSettings = (template: Template): unknown =>
  onlyResource(template, 'AWS::ApiGatewayV2::Stage').Properties.RouteSettings;

function asRouteSettings(throttles: Record<string, { rateLimit: number; burstLimit: number } | undefined>) {
  return Object.fromEntries(
    Object.entries(throttles).map(([route, throttle]) => [
      route,
      { ThrottlingRateLimit: throttle?.rateLimit, ThrottlingBurstLimit: throttle?.burstLimit },
    ]),
  );
}

/** Table name → its OnDemandThroughput and that of each of its indexes. */
function tableCaps(template: Template): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(template.findResources('AWS::DynamoDB::Table')).map(([id, resource]) => {
      const properties = (resource as Resource).Properties;
      const indexes = (properties.GlobalSecondaryIndexes ?? []) as { OnDemandThroughput?: unknown }[];
      const caps = {
        table: properties.OnDemandThroughput,
        indexes: indexes.map((index) => index.OnDemandThroughput),
      };
      return [tableOfLogicalId(id), caps];
    }),
  );
}

function expectedCaps(cap: { maxReadRequestUnits: number; maxWriteRequestUnits: number }, name: TableName) {
  const definition: TableDefinition = TABLES[name];
  const throughput = {
    MaxReadRequestUnits: cap.maxReadRequestUnits,
    MaxWriteRequestUnits: cap.maxWriteRequestUnits,
  };
  return { table: throughput, indexes: (definition.globalSecondaryIndexes ?? []).map(() => throughput) };
}

describe('capacity with default props', () => {
  let template: Template;
  beforeAll(() => {
    template = synthStack();
  });

  it('throttles $connect, send and the expensive reads per route, the rest at the stage default', () => {
    expect(routeSettings(template)).toEqual(asRouteSettings(DEFAULT_ROUTE_THROTTLES));
    expect(Object.keys(DEFAULT_ROUTE_THROTTLES)).toEqual(
      expect.arrayContaining(['$connect', 'send', 'listConversations', 'history', 'presence']),
    );
  });

  it('creates the stage after every route its settings name, which CloudFormation requires', () => {
    const stage = onlyResource(template, 'AWS::ApiGatewayV2::Stage');
    const routes = template.findResources('AWS::ApiGatewayV2::Route');

    for (const routeKey of Object.keys(DEFAULT_ROUTE_THROTTLES)) {
      const [id] =
        Object.entries(routes).find(([, route]) => (route as Resource).Properties.RouteKey === routeKey) ??
        [];
      expect(stage.DependsOn, routeKey).toContain(id);
    }
  });

  it('caps every table and each of its indexes at the default on-demand throughput', () => {
    const caps = tableCaps(template);

    for (const name of Object.keys(TABLES) as TableName[]) {
      expect(caps[name], name).toEqual(expectedCaps(DEFAULT_TABLE_THROUGHPUT, name));
    }
  });

  it('reserves no concurrency, so it deploys on an account whose regional pool is 10', () => {
    for (const name of functionNames) {
      expect(lambdaOf(template, name).props.ReservedConcurrentExecutions, name).toBeUndefined();
    }
  });
});

describe('capacity with every prop set', () => {
  let template: Template;
  beforeAll(() => {
    template = synthStack({
      fanoutMaxConcurrency: 10,
      reservedConcurrency: SUGGESTED_RESERVED_CONCURRENCY,
      routeThrottles: { send: { rateLimit: 7, burstLimit: 9 }, subscribe: { rateLimit: 3, burstLimit: 4 } },
      tableThroughput: { maxReadRequestUnits: 300 },
      tableThroughputOverrides: { messages: { maxWriteRequestUnits: 50 } },
    });
  });

  it('reserves the configured concurrency for each function', () => {
    for (const name of functionNames) {
      expect(lambdaOf(template, name).props.ReservedConcurrentExecutions, name).toBe(
        SUGGESTED_RESERVED_CONCURRENCY[name],
      );
    }
  });

  it('replaces the throttle of the routes it names and keeps the defaults of the others', () => {
    expect(routeSettings(template)).toEqual(
      asRouteSettings({
        ...DEFAULT_ROUTE_THROTTLES,
        send: { rateLimit: 7, burstLimit: 9 },
        subscribe: { rateLimit: 3, burstLimit: 4 },
      }),
    );
  });

  it('caps every table at the configured throughput, and the overridden table at its own', () => {
    const caps = tableCaps(template);

    expect(caps.messages).toEqual(
      expectedCaps({ maxReadRequestUnits: 300, maxWriteRequestUnits: 50 }, 'messages'),
    );
    expect(caps.connections).toEqual(
      expectedCaps(
        { maxReadRequestUnits: 300, maxWriteRequestUnits: DEFAULT_TABLE_THROUGHPUT.maxWriteRequestUnits },
        'connections',
      ),
    );
  });
});

describe('capacity props validation', () => {
  const refused: [string, ServerlessChatStackProps, RegExp][] = [
    [
      'a throttle on a route that does not exist',
      { routeThrottles: { sned: { rateLimit: 1, burstLimit: 1 } } as never },
      /routeThrottles\.sned: no such route/,
    ],
    [
      'a route rate of 0',
      { routeThrottles: { send: { rateLimit: 0, burstLimit: 10 } } },
      /routeThrottles\.send\.rateLimit must be a number above 0/,
    ],
    [
      'a fractional burst',
      { routeThrottles: { send: { rateLimit: 1, burstLimit: 1.5 } } },
      /routeThrottles\.send\.burstLimit must be a whole number/,
    ],
    [
      'a reservation of 0, which turns a function off',
      { reservedConcurrency: { authorizer: 0, fanout: 10 } },
      /reservedConcurrency\.authorizer must be a whole number of at least 1/,
    ],
    [
      'a reservation for a function that does not exist',
      { reservedConcurrency: { authorizr: 5 } as never },
      /reservedConcurrency\.authorizr: no such function/,
    ],
    [
      'reserving route functions but not the authorizer and the fan-out',
      { reservedConcurrency: { send: 20 } },
      /reserves send but not authorizer or fanout/,
    ],
    [
      'a fan-out reservation below its event source concurrency',
      { fanoutMaxConcurrency: 10, reservedConcurrency: { authorizer: 5, fanout: 5 } },
      /reservedConcurrency\.fanout \(5\) is below fanoutMaxConcurrency \(10\)/,
    ],
    [
      'a table cap of 0',
      { tableThroughput: { maxWriteRequestUnits: 0 } },
      /maxWriteRequestUnits must be a whole number of at least 1; got 0/,
    ],
    [
      'a cap for a table that does not exist',
      { tableThroughputOverrides: { mesages: { maxReadRequestUnits: 5 } } as never },
      /tableThroughputOverrides\.mesages: no such table/,
    ],
  ];

  it.each(refused)('refuses %s at synth', (_name, props, message) => {
    expect(() => synthStack(props)).toThrow(message);
  });
});
