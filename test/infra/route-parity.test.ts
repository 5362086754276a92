/**
 * The local runtime serves the deployed route table: each route key reaches the same function, two-way
 * where the stack gives it a route response. It synthesizes the stack and starts no runtime, so it runs
 * with the infra tests; test/e2e/wiring.e2e.test.ts serves a route added to the wiring.
 */
import { describe, expect, it } from 'vitest';
import { FUNCTIONS, routeTarget } from '../../lib/wiring';
import { DEFAULT_WIRING, localRoutes } from '../../local/runtime';
import { synthStack } from './template';

type Resource = { Type: string; Properties: Record<string, unknown> };

/** Route key → [function description, two-way] as the synthesized stack deploys it. */
function deployedRoutes(): Map<string, [string, boolean]> {
  const template = synthStack().toJSON() as { Resources: Record<string, Resource> };
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
