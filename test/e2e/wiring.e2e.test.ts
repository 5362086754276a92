import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ServerlessChatStack } from '../../lib/chat-stack';
import { FUNCTIONS, routeTarget } from '../../lib/wiring';
import { DEFAULT_WIRING, localRoutes } from '../../local/runtime';
import { useLocalRuntime } from '../support/local-runtime';
import { connectAs } from './helpers';

type Resource = { Type: string; Properties: Record<string, unknown> };

/** Route key → [function description, two-way] as the synthesized stack deploys it. */
function deployedRoutes(): Map<string, [string, boolean]> {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const template = Template.fromStack(new ServerlessChatStack(app, 'WiringParity')).toJSON() as {
    Resources: Record<string, Resource>;
  };
  const resources = template.Resources;
  const byType = (type: string) => Object.entries(resources).filter(([, resource]) => resource.Type === type);
  // The first logical id a value points at through Ref or Fn::GetAtt.
  const refOf = (value: unknown): string =>
    JSON.stringify(value).match(/"(?:Ref|Fn::GetAtt)":\[?"([A-Za-z0-9]+)"/)?.[1] ?? '';
  const routesWithResponse = new Set(
    byType('AWS::ApiGatewayV2::RouteResponse').map(([, resource]) => refOf(resource.Properties.RouteId)),
  );
  const routes = new Map<string, [string, boolean]>();
  for (const [routeId, route] of byType('AWS::ApiGatewayV2::Route')) {
    const integrationId = JSON.stringify(route.Properties.Target).match(/"Ref":"([A-Za-z0-9]+)"/)?.[1] ?? '';
    const integration = resources[integrationId];
    const functionId = refOf(integration?.Properties.IntegrationUri);
    const description = String(resources[functionId]?.Properties.Description);
    routes.set(String(route.Properties.RouteKey), [description, routesWithResponse.has(routeId)]);
  }
  return routes;
}

describe('the local route table', () => {
  it('is the deployed route table: same route keys, same functions, same two-way routes', () => {
    // Prepare
    const deployed = deployedRoutes();
    const recorded: string[] = [];
    const local = localRoutes(DEFAULT_WIRING, { invoker: (name) => async () => recorded.push(name) });
    // Act
    const localTable = new Map(
      Object.entries(local).map(([routeKey, { twoWay }]) => {
        const route = DEFAULT_WIRING.routes[routeKey] ?? '';
        const name = routeTarget(route).function as keyof typeof FUNCTIONS;
        return [routeKey, [FUNCTIONS[name].description, twoWay]] as const;
      }),
    );
    // Assess
    expect(deployed.size).toBeGreaterThan(0);
    expect(Object.fromEntries(localTable)).toEqual(Object.fromEntries(deployed));
  });
});

describe('a route added to the wiring', () => {
  const { runtime, track } = useLocalRuntime({
    wiring: {
      ...DEFAULT_WIRING,
      functions: {
        ...DEFAULT_WIRING.functions,
        ping: {
          entry: 'test/e2e/fixtures/ping-handler.ts',
          description: 'test route',
          tables: {},
          // Like every function behind a two-way route: its route kit closes flooding connections.
          managementApi: true,
        },
      },
      routes: { ...DEFAULT_WIRING.routes, ping: 'ping' },
    },
  });

  it('is served locally with no edit of the local runtime', async () => {
    const client = await track(connectAs(runtime(), 'alice'));

    const reply = await client.request({ action: 'ping' });

    expect(reply).toMatchObject({ type: 'ack', action: 'ping', pong: 'alice' });
  });
});
