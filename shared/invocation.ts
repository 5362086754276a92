/**
 * The invocation an AWS call belongs to, and what every SDK client checks before it sends one. Lambda
 * stops a timed-out invocation for good: none of its calls leave afterwards. The local runtime runs every
 * handler in one process, so it marks each invocation's scope here and aborts it at the timeout, and
 * the middleware of {@link invocationGuard} refuses the calls that a stopped invocation would still
 * make. On AWS and locally, the route kit also runs each route in a scope of its own that ends with its
 * reply ({@link runScoped}); outside any scope the guard only counts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type {
  AbsoluteLocation,
  FinalizeHandlerOutput,
  FinalizeRequestHandlerOptions,
  FinalizeRequestMiddleware,
} from '@smithy/types';

export interface Invocation {
  functionName: string;
  /** Aborted when the invocation timed out; no AWS call may start after that. */
  signal: AbortSignal;
}

const scope = new AsyncLocalStorage<Invocation>();

/** Runs `fn` as `invocation`: every AWS call it makes, however deep in its promises, belongs to it. */
export function runInvocation<T>(invocation: Invocation, fn: () => T): T {
  return scope.run(invocation, fn);
}

/** The invocation the caller runs in, if any: the local bench attributes log bytes to it. */
export function currentInvocation(): Invocation | undefined {
  return scope.getStore();
}

/**
 * Runs `fn` in a scope that also ends when `ended` aborts, inside the current invocation (whose own stop
 * still applies). The route kit ends a route's scope when it has answered: on Lambda a frozen
 * environment resumes an unfinished promise during a later invocation, and work the client was already
 * told about (`busy`: resend) must not land behind its back.
 */
export function runScoped<T>(name: string, ended: AbortSignal, fn: () => T): T {
  const outer = scope.getStore();
  return scope.run(
    {
      functionName: outer?.functionName ?? name,
      signal: outer === undefined ? ended : AbortSignal.any([outer.signal, ended]),
    },
    fn,
  );
}

/** Thrown instead of an AWS call made by an invocation that was stopped (timed out, or already answered). */
export class InvocationStoppedError extends Error {
  override readonly name = 'InvocationStoppedError';
  constructor(functionName: string, command: string) {
    super(`${command} refused: invocation of ${functionName} was stopped (timed out or answered)`);
  }
}

/** One AWS request as the guard saw it (each SDK retry attempt is a request of its own). */
export interface AwsRequest {
  client: string;
  command: string;
  functionName: string | undefined;
}

const observers = new Set<(request: AwsRequest) => void>();

/** Calls `observer` for every AWS request of every guarded client; returns the function that stops it. */
export function observeAwsRequests(observer: (request: AwsRequest) => void): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

/** One AWS call as an interceptor sees it: the request and its command's input. */
export interface AwsCall extends AwsRequest {
  input: unknown;
}

/**
 * Stands between the guarded clients and their services, for the local runtime alone (its fault injection
 * and its event source's stand-ins): it may answer a call itself (resolve with the command's output), fail
 * it (throw: the SDK's retry strategy then treats the error as it would the service's), or pass it on with
 * `proceed`, which resolves with the service's output, and act before or after.
 */
export type AwsCallInterceptor = (call: AwsCall, proceed: () => Promise<object>) => Promise<object>;

const interceptors: AwsCallInterceptor[] = [];

/**
 * Puts `interceptor` in front of every AWS request of every guarded client (each retry attempt is a request
 * of its own), outside the ones added before; returns the function that removes it.
 */
export function interceptAwsCalls(interceptor: AwsCallInterceptor): () => void {
  interceptors.push(interceptor);
  return () => {
    const at = interceptors.indexOf(interceptor);
    if (at >= 0) interceptors.splice(at, 1);
  };
}

/**
 * The guard middleware of an SDK client, added with {@link INVOCATION_GUARD_STEP}: each request
 * (retries included) is refused when its invocation was stopped, and reported to the observers
 * otherwise. It sits after the retry middleware, so a stopped invocation's retries are refused too.
 */
export function invocationGuard<Input extends object, Output extends object>(): FinalizeRequestMiddleware<
  Input,
  Output
> {
  return (next, context) => async (args) => {
    const invocation = scope.getStore();
    const command = String(context.commandName ?? 'command');
    if (invocation?.signal.aborted) throw new InvocationStoppedError(invocation.functionName, command);
    const request = {
      client: String(context.clientName ?? 'client'),
      command,
      functionName: invocation?.functionName,
    };
    for (const observer of observers) observer(request);
    if (interceptors.length === 0) return next(args);
    let response: unknown;
    const call: AwsCall = { ...request, input: args.input };
    const chain = interceptors.reduce<() => Promise<object>>(
      (inner, interceptor) => () => interceptor(call, inner),
      async () => {
        const result = await next(args);
        response = result.response;
        return result.output;
      },
    );
    const output = await chain();
    return { output, response } as FinalizeHandlerOutput<Output>;
  };
}

/** Where {@link invocationGuard} goes in a client's middleware stack. */
export const INVOCATION_GUARD_STEP: FinalizeRequestHandlerOptions &
  AbsoluteLocation & { name: string; override: boolean } = {
  step: 'finalizeRequest',
  priority: 'low',
  name: 'invocationGuard',
  override: true,
};
