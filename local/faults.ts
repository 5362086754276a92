/**
 * Faults only the runtime can inject, for the chaos soak (`npm run chaos`) and the tests: AWS calls of the
 * handlers throttled or failed with the errors each service sends, and invocations that crash at a chosen
 * call, as a Lambda whose runtime exited. Everything goes through shared/invocation.ts's interceptor, in
 * front of every guarded client, so the SDK's retry strategy meets an injected error exactly where it
 * would meet the service's. Nothing deployed registers an interceptor.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import {
  ApiGatewayManagementApiServiceException,
  LimitExceededException,
} from '@aws-sdk/client-apigatewaymanagementapi';
import {
  InternalServerError,
  ProvisionedThroughputExceededException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { RequestThrottled, SQSServiceException } from '@aws-sdk/client-sqs';
import { type AwsCall, type AwsCallInterceptor, interceptAwsCalls } from '../shared/invocation';

export type FaultService = 'dynamodb' | 'sqs' | 'management';
export type FaultEffect = 'throttle' | 'server-error' | 'crash-before' | 'crash-after';
export type CrashPoint =
  | 'send:after-seq-reserved'
  | 'send:after-store-before-enqueue'
  | 'fanout:mid-delivery';

export interface FaultRule {
  service: FaultService;
  /** The SDK command (`UpdateItemCommand`, `SendMessageCommand`, `PostToConnectionCommand`…); absent: any. */
  command?: string;
  /** The function, by its lib/wiring.ts name (`send`, `fanout`, …); absent: any. */
  functionName?: string;
  effect: FaultEffect;
  /** Matching calls let through before the rule fires. @default 0 */
  skip?: number;
  /** Calls the rule fires on at most. @default Infinity */
  times?: number;
  /**
   * The error a `throttle` or `server-error` throws, among the service's (see {@link SERVICE_ERRORS}).
   * @default the first of the service's errors for the effect
   */
  error?: string;
  /**
   * Only calls whose input this accepts match (e.g. one UpdateItem among several): the input as the
   * service's client sends it, so DynamoDB's in its marshalled form (`{ S: 'id' }`).
   */
  where?: (input: Record<string, unknown>) => boolean;
  /** Names the fault in {@link Faults.fired}. @default service, command and effect */
  label?: string;
}

export interface FiredFault {
  /** Epoch ms. */
  at: number;
  label: string;
  functionName?: string;
  command: string;
  effect: FaultEffect;
}

export interface FaultHandle {
  /** The calls this rule fired on so far. */
  readonly fired: number;
  /** Stops the rule; the faults it fired stay in {@link Faults.fired}. */
  remove(): void;
}

export interface Faults {
  /** Adds a rule; it fires on calls made by this runtime's invocations only. */
  inject(rule: FaultRule): FaultHandle;
  /** Crashes the invocation at a named point of the send path or the fan-out, `times` times (default 1). */
  crashAt(point: CrashPoint, times?: number): FaultHandle;
  /** Removes every rule; the record of what fired stays. */
  clear(): void;
  /** Every fault that fired, oldest first. */
  readonly fired: readonly FiredFault[];
}

/** The SDK client each service's calls go through (its `clientName`). */
const CLIENTS: Record<FaultService, string> = {
  dynamodb: 'DynamoDBClient',
  sqs: 'SQSClient',
  management: 'ApiGatewayManagementApiClient',
};

/** An error a service answers, and the class the SDK gives it. */
interface ErrorShape {
  name: string;
  status: number;
  message: string;
  /** The error's own class where the service's model has one; else the client's base exception. */
  Class: new (
    options: never,
  ) => Error;
  /** False: the SDK names the base exception after the error code and sets its fault from the status. */
  modeled: boolean;
}

type ErrorClass = ErrorShape['Class'];
const modeled = (Class: ErrorClass, name: string, status: number, message: string): ErrorShape => ({
  name,
  status,
  message,
  Class,
  modeled: true,
});
const unmodeled = (Class: ErrorClass, name: string, status: number, message: string): ErrorShape => ({
  ...modeled(Class, name, status, message),
  modeled: false,
});

/** The errors each service answers when it throttles or fails, the first of each list the default. */
export const SERVICE_ERRORS: Record<FaultService, Record<'throttle' | 'server-error', ErrorShape[]>> = {
  dynamodb: {
    throttle: [
      modeled(
        ProvisionedThroughputExceededException,
        'ProvisionedThroughputExceededException',
        400,
        'The level of configured provisioned throughput for the table was exceeded',
      ),
      modeled(
        ThrottlingException,
        'ThrottlingException',
        400,
        'Rate of requests exceeds the allowed throughput',
      ),
    ],
    'server-error': [modeled(InternalServerError, 'InternalServerError', 500, 'Internal server error')],
  },
  sqs: {
    throttle: [
      modeled(RequestThrottled, 'RequestThrottled', 400, 'Request is throttled'),
      unmodeled(SQSServiceException, 'ThrottlingException', 400, 'Rate exceeded'),
    ],
    'server-error': [
      unmodeled(
        SQSServiceException,
        'InternalError',
        500,
        'We encountered an internal error. Please try again.',
      ),
    ],
  },
  management: {
    throttle: [modeled(LimitExceededException, 'LimitExceededException', 429, 'Rate exceeded')],
    'server-error': [
      unmodeled(
        ApiGatewayManagementApiServiceException,
        'InternalServerErrorException',
        500,
        'Internal server error',
      ),
    ],
  },
};

/** The error as the SDK hands it over after one attempt of the call; its message says it was injected. */
export function serviceError(errorShape: ErrorShape): Error {
  const { Class, name, status } = errorShape;
  const options = {
    message: `${errorShape.message} (injected by the local runtime)`,
    $metadata: { httpStatusCode: status, requestId: randomUUID() },
  };
  const fault = { name, $fault: status >= 500 ? 'server' : 'client' };
  return new Class((errorShape.modeled ? options : { ...options, ...fault }) as never);
}

/** The rules a named crash point stands for, on the calls the send path and the fan-out really make. */
export const CRASH_POINTS: Record<CrashPoint, Omit<FaultRule, 'times'>> = {
  // lambdas/send/commit.ts: the counter's `ADD lastSeq 1` has landed, the claim is not marked yet.
  'send:after-seq-reserved': {
    service: 'dynamodb',
    command: 'UpdateItemCommand',
    functionName: 'send',
    effect: 'crash-after',
    where: (input) => String(input.UpdateExpression).includes('ADD lastSeq'),
  },
  // The message (or an edit) is stored and its claim marked; its one SendMessage never leaves.
  'send:after-store-before-enqueue': {
    service: 'sqs',
    command: 'SendMessageCommand',
    functionName: 'send',
    effect: 'crash-before',
  },
  // After the first post has gone out, so one post has reached a subscriber and the batch's others not.
  'fanout:mid-delivery': {
    service: 'management',
    command: 'PostToConnectionCommand',
    functionName: 'fanout',
    effect: 'crash-after',
    skip: 1,
  },
};

/** The runtime an invocation belongs to, and how a fault ends it. */
export interface CrashableInvocation {
  faults: Faults;
  functionName: string;
  /**
   * Ends the invocation as a runtime that exited: its caller sees a function error, its calls are refused.
   * False when it had already ended (or crashed): a call it left running crashes nothing.
   */
  crash(reason: string): boolean;
}

const invocations = new AsyncLocalStorage<CrashableInvocation>();

/** Runs `fn` as `invocation`: the faults of its runtime apply to every AWS call it makes. */
export function runCrashable<T>(invocation: CrashableInvocation, fn: () => T): T {
  return invocations.run(invocation, fn);
}

/** What a crashed invocation's pending call does: nothing, ever, as in a process that is gone. */
const never = (): Promise<never> => new Promise<never>(() => undefined);

const EFFECTS: readonly FaultEffect[] = ['throttle', 'server-error', 'crash-before', 'crash-after'];

/** The rule checked, with its error resolved; bad input throws before anything is injected. */
function checked(rule: FaultRule): { errorShape: ErrorShape | undefined } {
  if (!(rule.service in CLIENTS)) {
    throw new Error(
      `Unknown fault service ${String(rule.service)}: one of ${Object.keys(CLIENTS).join(', ')}`,
    );
  }
  if (!EFFECTS.includes(rule.effect)) {
    throw new Error(`Unknown fault effect ${String(rule.effect)}: one of ${EFFECTS.join(', ')}`);
  }
  const skip = rule.skip ?? 0;
  if (!Number.isInteger(skip) || skip < 0) throw new Error(`skip must be a whole number ≥ 0, not ${skip}`);
  const times = rule.times ?? Number.POSITIVE_INFINITY;
  if (!(times === Number.POSITIVE_INFINITY || (Number.isInteger(times) && times >= 1))) {
    throw new Error(`times must be a whole number ≥ 1 or Infinity, not ${times}`);
  }
  if (rule.effect === 'crash-before' || rule.effect === 'crash-after') {
    if (rule.error !== undefined) throw new Error(`A ${rule.effect} fault throws no error (${rule.error})`);
    return { errorShape: undefined };
  }
  const shapes = SERVICE_ERRORS[rule.service][rule.effect];
  const errorShape = rule.error === undefined ? shapes[0] : shapes.find(({ name }) => name === rule.error);
  if (errorShape === undefined) {
    throw new Error(
      `${rule.service} has no ${rule.effect} error ${rule.error}: one of ${shapes.map(({ name }) => name).join(', ')}`,
    );
  }
  return { errorShape };
}

interface ActiveRule {
  rule: FaultRule;
  label: string;
  errorShape: ErrorShape | undefined;
  matched: number;
  fired: number;
}

/**
 * The faults of one runtime. Its interceptor is in place only while it has rules, and acts only on calls
 * made by invocations that {@link runCrashable} tied to it: several runtimes in one process never see
 * each other's faults, and calls outside invocations (the event source's polling, tests' own clients)
 * none at all.
 */
export function createFaults(now: () => number = Date.now): Faults {
  const rules: ActiveRule[] = [];
  const fired: FiredFault[] = [];
  let removeInterceptor: (() => void) | undefined;

  const firing = (call: AwsCall, input: Record<string, unknown>): ActiveRule | undefined => {
    for (const active of rules) {
      const { rule } = active;
      if (call.client !== CLIENTS[rule.service]) continue;
      if (rule.command !== undefined && rule.command !== call.command) continue;
      if (rule.functionName !== undefined && rule.functionName !== call.functionName) continue;
      if (rule.where !== undefined && !rule.where(input)) continue;
      active.matched++;
      if (active.matched <= (rule.skip ?? 0) || active.fired >= (rule.times ?? Number.POSITIVE_INFINITY))
        continue;
      active.fired++;
      return active;
    }
    return undefined;
  };

  const record = (active: ActiveRule, call: AwsCall): void => {
    fired.push({
      at: now(),
      label: active.label,
      command: call.command,
      effect: active.rule.effect,
      ...(call.functionName === undefined ? {} : { functionName: call.functionName }),
    });
  };

  /** Ends the invocation at this call, unless it had already ended: then the call goes on unmatched. */
  const crashing = (active: ActiveRule, call: AwsCall, invocation: CrashableInvocation): boolean => {
    if (!invocation.crash(active.label)) {
      active.fired--;
      return false;
    }
    record(active, call);
    return true;
  };

  const intercept: AwsCallInterceptor = async (call, proceed) => {
    const invocation = invocations.getStore();
    if (invocation?.faults !== faults) return proceed();
    // The function as this runtime invoked it: a route kit's scope may name it otherwise.
    const subject = { ...call, functionName: invocation.functionName };
    const active = firing(subject, (call.input ?? {}) as Record<string, unknown>);
    if (active === undefined) return proceed();
    switch (active.rule.effect) {
      case 'crash-before':
        return crashing(active, subject, invocation) ? never() : proceed();
      case 'crash-after': {
        let output: object;
        try {
          output = await proceed();
        } catch (err: unknown) {
          // The call failed, so the point after it was never reached: this one does not count.
          active.fired--;
          throw err;
        }
        return crashing(active, subject, invocation) ? never() : output;
      }
      default:
        record(active, subject);
        // checked() resolved an error for every effect that is not a crash.
        throw serviceError(active.errorShape as ErrorShape);
    }
  };

  const faults: Faults = {
    inject(rule) {
      const { errorShape } = checked(rule);
      const active: ActiveRule = {
        rule,
        label: rule.label ?? `${rule.service} ${rule.command ?? 'any call'} ${rule.effect}`,
        errorShape,
        matched: 0,
        fired: 0,
      };
      rules.push(active);
      removeInterceptor ??= interceptAwsCalls(intercept);
      return {
        get fired() {
          return active.fired;
        },
        remove() {
          const at = rules.indexOf(active);
          if (at >= 0) rules.splice(at, 1);
          if (rules.length === 0) {
            removeInterceptor?.();
            removeInterceptor = undefined;
          }
        },
      };
    },
    crashAt(point, times = 1) {
      const rule = CRASH_POINTS[point];
      if (rule === undefined) {
        throw new Error(
          `Unknown crash point ${String(point)}: one of ${Object.keys(CRASH_POINTS).join(', ')}`,
        );
      }
      return faults.inject({ ...rule, times, label: point });
    },
    clear() {
      rules.splice(0);
      removeInterceptor?.();
      removeInterceptor = undefined;
    },
    fired,
  };
  return faults;
}
