import { AccessLogField, AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  LogGroupLogDestination,
  WebSocketApi,
  type WebSocketRoute,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeManagedPolicy, acknowledgeRule } from './nag';
import {
  type FunctionName,
  ROUTE_SELECTION_EXPRESSION,
  ROUTES,
  type RouteWiring,
  routeTarget,
  TOKEN_QUERY_PARAMETER,
} from './wiring';

export interface StageThrottle {
  /** Steady-state requests per second across the stage. */
  readonly rateLimit: number;
  /** Requests allowed in a burst above the steady rate. */
  readonly burstLimit: number;
}

export interface ChatApiProps {
  /** The function behind each route, and the `$connect` authorizer, by wiring name. */
  readonly functions: Record<FunctionName, IFunction>;
  /**
   * Route key → wiring: the function, and whether the route has a route response.
   * @default ROUTES (lib/wiring.ts)
   */
  readonly routes?: Readonly<Record<string, RouteWiring>>;
  /** The function that authorizes `$connect`. */
  readonly authorizer: IFunction;
  /** The stage name, the last path segment of the wss:// and callback URLs. */
  readonly stageName: string;
  /** Stage-wide throttling: the throttle of every route that has none of its own. */
  readonly throttle: StageThrottle;
  /**
   * Throttles of particular routes (across all clients), by route key; each replaces the stage's for
   * its route.
   * @default - every route has the stage's throttle
   */
  readonly routeThrottles?: Readonly<Partial<Record<string, StageThrottle>>>;
  /**
   * Create the account-wide role that lets API Gateway write access logs. Each account and region needs
   * it once; leave this off when another stack (or the console) already set it.
   * @default false
   */
  readonly createCloudWatchRole?: boolean;
  /**
   * How long access logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly accessLogRetention?: RetentionDays;
}

/**
 * The WebSocket API: route selection on `$request.body.action`, one route per entry of ROUTES in
 * lib/wiring.ts, `$connect` behind a REQUEST authorizer reading the token query parameter, a route
 * response (`returnResponse`) on exactly the routes the wiring makes two-way, so their handler's return
 * value is the reply frame, and one stage, throttled as a whole and per route, whose access log names the
 * user of every request.
 */
export class ChatApi extends Construct {
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;

  constructor(scope: Construct, id: string, props: ChatApiProps) {
    super(scope, id);
    this.api = new WebSocketApi(this, 'Api', {
      description: 'serverless-chat WebSocket API',
      routeSelectionExpression: ROUTE_SELECTION_EXPRESSION,
    });
    const routes = this.addRoutes(props);
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? RetentionDays.ONE_MONTH,
    });
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: props.stageName,
      autoDeploy: true,
      throttle: { rateLimit: props.throttle.rateLimit, burstLimit: props.throttle.burstLimit },
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs), format: accessLogFormat() },
    });
    this.throttleRoutes(routes, props.routeThrottles ?? {});
    if (props.createCloudWatchRole) this.createCloudWatchRole();
  }

  /**
   * Route settings name their route by key, and CloudFormation refuses a stage whose settings name a
   * route that does not exist yet, so the stage waits for the routes it throttles.
   */
  private throttleRoutes(
    routes: Map<string, WebSocketRoute>,
    throttles: Readonly<Partial<Record<string, StageThrottle>>>,
  ): void {
    // RouteSettings is untyped JSON in CloudFormation's schema, so CDK passes it through as written: the
    // keys must already be CloudFormation's (ThrottlingRateLimit, not throttlingRateLimit).
    const settings: Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }> = {};
    for (const [routeKey, throttle] of Object.entries(throttles)) {
      const route = routes.get(routeKey);
      if (throttle === undefined) continue;
      if (route === undefined) throw new Error(`routeThrottles.${routeKey}: the API has no such route`);
      settings[routeKey] = {
        ThrottlingRateLimit: throttle.rateLimit,
        ThrottlingBurstLimit: throttle.burstLimit,
      };
      this.stage.node.addDependency(route);
    }
    if (Object.keys(settings).length > 0) (this.stage.node.defaultChild as CfnStage).routeSettings = settings;
  }

  private addRoutes(props: ChatApiProps): Map<string, WebSocketRoute> {
    const routes = new Map<string, WebSocketRoute>();
    const authorizer = new WebSocketLambdaAuthorizer('ConnectAuthorizer', props.authorizer, {
      identitySource: [`route.request.querystring.${TOKEN_QUERY_PARAMETER}`],
    });
    for (const [routeKey, wiring] of Object.entries(props.routes ?? ROUTES)) {
      const target = routeTarget(wiring);
      const route = this.api.addRoute(routeKey, {
        integration: new WebSocketLambdaIntegration(
          `${routeId(routeKey)}Integration`,
          props.functions[target.function],
        ),
        authorizer: routeKey === '$connect' ? authorizer : undefined,
        returnResponse: target.routeResponse,
      });
      routes.set(routeKey, route);
      if (routeKey !== '$connect') {
        acknowledgeRule(
          route,
          'AwsSolutions-APIG4',
          'A WebSocket API runs authorizers on $connect only; every later frame travels on that authorized ' +
            'connection, and handlers read the identity from requestContext.authorizer.',
        );
      }
    }
    return routes;
  }

  private createCloudWatchRole(): void {
    const role = new Role(this, 'CloudWatchRole', {
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      managedPolicies: [
        ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
      ],
    });
    const account = new CfnAccount(this, 'Account', { cloudWatchRoleArn: role.roleArn });
    this.stage.node.addDependency(account);
    acknowledgeManagedPolicy(
      role,
      'service-role/AmazonAPIGatewayPushToCloudWatchLogs',
      'This is the policy AWS documents for the account-wide API Gateway logging role; API Gateway writes ' +
        'to log groups it names at run time.',
    );
  }
}

/** One JSON line per request, with the fields that explain a refused connect or a failed route, and who sent it. */
function accessLogFormat(): AccessLogFormat {
  return AccessLogFormat.custom(
    JSON.stringify({
      requestId: AccessLogField.contextRequestId(),
      requestTime: AccessLogField.contextRequestTime(),
      ip: AccessLogField.contextIdentitySourceIp(),
      // The user the $connect authorizer let in; every later frame of the connection carries it too.
      principalId: AccessLogField.contextAuthorizerPrincipalId(),
      eventType: AccessLogField.contextEventType(),
      routeKey: AccessLogField.contextRouteKey(),
      connectionId: AccessLogField.contextConnectionId(),
      status: AccessLogField.contextStatus(),
      error: AccessLogField.contextErrorMessage(),
      authorizerError: AccessLogField.contextAuthorizerError(),
    }),
  );
}

/** `$connect` → `Connect`, `send` → `Send`: a construct id for the route's integration. */
function routeId(routeKey: string): string {
  const name = routeKey.replace(/^\$/, '');
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}
