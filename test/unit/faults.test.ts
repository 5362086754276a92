/**
 * local/faults.ts: which calls a rule fires on, the errors it throws (the very ones each service's SDK
 * client makes of the service's answer, so its retry strategy treats them alike), and what a crash does
 * to an invocation. The clients are guarded as shared/aws/*.ts builds them and talk to a stand-in
 * server on 127.0.0.1 that answers as the service would.
 */

import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient, ListTablesCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CRASH_POINTS,
  type CrashableInvocation,
  createFaults,
  type FaultService,
  type Faults,
  runCrashable,
  SERVICE_ERRORS,
  serviceError,
} from '../../local/faults';
import { type FunctionCrashError, loadFunctions } from '../../local/functions';
import { INVOCATION_GUARD_STEP, InvocationStoppedError, invocationGuard } from '../../shared/invocation';
import { reserveCounted } from '../../shared/store/conversations';
import { deferred } from '../support/deferred';
import { behaviour } from './faults-handler';

/** One answer of the stand-in: status, headers and body. */
interface Answer {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

let server: Server;
let endpoint: string;
let received = 0;
let answers: Answer[] = [];

function answer(_request: IncomingMessage, response: ServerResponse): void {
  received++;
  const next = answers.shift() ?? { status: 200, body: '{}' };
  response.writeHead(next.status, { 'content-type': 'application/x-amz-json-1.0', ...next.headers });
  response.end(next.body);
}

beforeAll(async () => {
  server = createServer(answer).listen(0, '127.0.0.1');
  await once(server, 'listening');
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const created: { destroy(): void }[] = [];
const faultsUsed: Faults[] = [];
beforeEach(() => {
  received = 0;
  answers = [];
  classed = [];
});
afterEach(() => {
  for (const client of created.splice(0)) client.destroy();
  for (const faults of faultsUsed.splice(0)) faults.clear();
});

const config = (maxAttempts: number) => ({
  region: 'us-east-1',
  endpoint,
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts,
});

/** How the SDK's retry strategy classed each failure it was asked to retry (THROTTLING, TRANSIENT…). */
let classed: string[] = [];

interface RetryStrategy {
  refreshRetryTokenForRetry(token: unknown, info: { errorType: string }): Promise<unknown>;
}

/**
 * Guards `client` as shared/aws/*.ts does and keeps its own retry strategy (its decisions, its retry
 * budget) without the waits between attempts (its backoff, which it keeps in `retryBackoffStrategy`),
 * recording how each failure was classed.
 */
function guarded<C extends { middlewareStack: unknown; config: unknown; destroy(): void }>(client: C): C {
  (client.middlewareStack as DynamoDBClient['middlewareStack']).add(invocationGuard(), INVOCATION_GUARD_STEP);
  const config = client.config as { retryStrategy: () => Promise<RetryStrategy> };
  const own = config.retryStrategy;
  config.retryStrategy = async () => {
    const strategy = await own();
    const unhurried: RetryStrategy = Object.assign(Object.create(strategy) as RetryStrategy, {
      retryBackoffStrategy: { setDelayBase: () => undefined, computeNextBackoffDelay: () => 0 },
      refreshRetryTokenForRetry: (token: unknown, info: { errorType: string }) => {
        classed.push(info.errorType);
        return strategy.refreshRetryTokenForRetry.call(unhurried, token, info);
      },
    });
    return unhurried;
  };
  created.push(client);
  return client;
}

/** Each service's guarded client and a call that succeeds on the stand-in's default answer. */
const SERVICES: Record<
  FaultService,
  (maxAttempts: number) => () => Promise<{ $metadata: { attempts?: number } }>
> = {
  dynamodb: (maxAttempts) => {
    const client = guarded(new DynamoDBClient(config(maxAttempts)));
    return () => client.send(new ListTablesCommand({}));
  },
  sqs: (maxAttempts) => {
    const client = guarded(new SQSClient(config(maxAttempts)));
    return () => client.send(new ListQueuesCommand({}));
  },
  management: (maxAttempts) => {
    const client = guarded(new ApiGatewayManagementApiClient(config(maxAttempts)));
    return () => client.send(new PostToConnectionCommand({ ConnectionId: 'c-1', Data: 'hi' }));
  },
};

/** How each service says `name` with `status` on the wire (its protocol: JSON 1.0 or REST JSON). */
const WIRE: Record<FaultService, (name: string, status: number) => Answer> = {
  dynamodb: (name, status) => ({
    status,
    body: JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${name}`, message: 'from the wire' }),
  }),
  sqs: (name, status) => ({
    status,
    headers: { 'x-amzn-query-error': `${name};${status >= 500 ? 'Receiver' : 'Sender'}` },
    body: JSON.stringify({ __type: `com.amazonaws.sqs#${name}`, message: 'from the wire' }),
  }),
  management: (name, status) => ({
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': name },
    body: JSON.stringify({ message: 'from the wire' }),
  }),
};

/** A fresh runtime's faults, and an invocation of it by `functionName` whose crash is recorded. */
function runtimeFaults(): Faults {
  const faults = createFaults();
  faultsUsed.push(faults);
  return faults;
}
const invocationOf = (
  faults: Faults,
  functionName = 'send',
): CrashableInvocation & { crash: ReturnType<typeof vi.fn> } => ({
  faults,
  functionName,
  crash: vi.fn<(reason: string) => boolean>(() => true),
});

/** What each service answers when it throttles or fails: the code and the HTTP status AWS documents. */
const DOCUMENTED: {
  service: FaultService;
  effect: 'throttle' | 'server-error';
  name: string;
  status: number;
}[] = [
  { service: 'dynamodb', effect: 'throttle', name: 'ProvisionedThroughputExceededException', status: 400 },
  { service: 'dynamodb', effect: 'throttle', name: 'ThrottlingException', status: 400 },
  { service: 'dynamodb', effect: 'server-error', name: 'InternalServerError', status: 500 },
  { service: 'sqs', effect: 'throttle', name: 'RequestThrottled', status: 400 },
  { service: 'sqs', effect: 'throttle', name: 'ThrottlingException', status: 400 },
  { service: 'sqs', effect: 'server-error', name: 'InternalError', status: 500 },
  { service: 'management', effect: 'throttle', name: 'LimitExceededException', status: 429 },
  { service: 'management', effect: 'server-error', name: 'InternalServerErrorException', status: 500 },
];

const shapeOf = (service: FaultService, effect: 'throttle' | 'server-error', name: string) => {
  const found = SERVICE_ERRORS[service][effect].find((errorShape) => errorShape.name === name);
  if (found === undefined) throw new Error(`No ${service} ${effect} ${name}`);
  return found;
};

describe('an injected throttle or server error', () => {
  it('is one of the errors each service documents, and only those', () => {
    const injectable = Object.entries(SERVICE_ERRORS).flatMap(([service, effects]) =>
      Object.entries(effects).flatMap(([effect, list]) =>
        list.map(({ name, status }) => ({ service, effect, name, status })),
      ),
    );
    expect(injectable).toEqual(DOCUMENTED);
  });

  it.each(DOCUMENTED)(
    '$service $effect $name is the error the SDK makes of the service saying it, retried alike',
    async ({ service, effect, name, status }) => {
      const errorShape = shapeOf(service, effect, name);
      // Prepare
      const faults = runtimeFaults();
      const call = SERVICES[service](2);
      const onTheWire = WIRE[service](name, status);
      answers = [onTheWire, onTheWire];
      const fromTheWire = await SERVICES[service](1)().catch((err: unknown) => err);
      classed = [];
      const wireRetried = await call();
      const wireClassed = classed.splice(0);
      faults.inject({ service, effect, error: errorShape.name, times: 1 });

      // Act
      const injected = serviceError(errorShape);
      const injectedRetried = await runCrashable(invocationOf(faults), call);

      // Assess
      expect(fromTheWire).toBeInstanceOf(Error);
      const wire = fromTheWire as Error & { $fault: string; $metadata: { httpStatusCode: number } };
      expect(injected.constructor).toBe(wire.constructor);
      expect(injected).toMatchObject({
        name: wire.name,
        $fault: wire.$fault,
        $metadata: { httpStatusCode: wire.$metadata.httpStatusCode },
      });
      expect(injected.message).toContain('injected by the local runtime');
      expect(wireClassed).toEqual([effect === 'throttle' ? 'THROTTLING' : 'TRANSIENT']);
      expect(classed).toEqual(wireClassed);
      expect([wireRetried.$metadata.attempts, injectedRetried.$metadata.attempts]).toEqual([2, 2]);
      expect(received).toBe(4);
    },
  );

  it.each(DOCUMENTED)(
    "$service $effect $name fails the call with that error once the SDK's retries run out",
    async ({ service, effect, name }) => {
      const errorShape = shapeOf(service, effect, name);
      // Prepare
      const faults = runtimeFaults();
      const rule = faults.inject({ service, effect, error: errorShape.name });

      // Act
      const exhausted = await runCrashable(invocationOf(faults), SERVICES[service](3)).catch(
        (err: unknown) => err,
      );

      // Assess
      expect(exhausted).toMatchObject({ name: errorShape.name, $metadata: { attempts: 3 } });
      expect(rule.fired).toBe(3);
      expect(received).toBe(0);
    },
  );
});

describe('fault rules', () => {
  it('fire only on the calls of their service, command and function, after skip and at most times', async () => {
    // Prepare
    const faults = runtimeFaults();
    const ddb = new DynamoDBClient(config(1));
    ddb.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
    created.push(ddb);
    const rule = faults.inject({
      service: 'dynamodb',
      command: 'ListTablesCommand',
      functionName: 'send',
      effect: 'server-error',
      skip: 1,
      times: 2,
    });
    const list = () =>
      ddb.send(new ListTablesCommand({})).then(
        () => 'ok',
        (err: Error) => err.name,
      );
    const update = () =>
      ddb.send(new UpdateItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } })).then(
        () => 'ok',
        (err: Error) => err.name,
      );

    // Act
    const outcomes: string[] = [];
    for (const functionName of ['send', 'fanout', 'send', 'send', 'send', 'send']) {
      outcomes.push(await runCrashable(invocationOf(faults, functionName), list));
    }
    outcomes.push(await runCrashable(invocationOf(faults), update));
    outcomes.push(await SERVICES.sqs(1)().then(() => 'ok'));

    // Assess: the fanout's call and the first send pass; then two fire; then times is spent.
    expect(outcomes).toEqual([
      'ok',
      'ok',
      'InternalServerError',
      'InternalServerError',
      'ok',
      'ok',
      'ok',
      'ok',
    ]);
    expect(rule.fired).toBe(2);
    expect(faults.fired).toEqual([
      expect.objectContaining({
        label: 'dynamodb ListTablesCommand server-error',
        functionName: 'send',
        command: 'ListTablesCommand',
        effect: 'server-error',
      }),
      expect.objectContaining({ effect: 'server-error' }),
    ]);
  });

  it("never fire on another runtime's invocations or on calls outside any invocation", async () => {
    // Prepare
    const mine = runtimeFaults();
    const theirs = runtimeFaults();
    const call = SERVICES.dynamodb(1);
    theirs.inject({ service: 'dynamodb', effect: 'throttle' });

    // Act
    const inMine = await runCrashable(invocationOf(mine), call);
    const outside = await call();
    const inTheirs = await runCrashable(invocationOf(theirs), call).catch((err: Error) => err.name);

    // Assess
    expect(inMine.$metadata.attempts).toBe(1);
    expect(outside.$metadata.attempts).toBe(1);
    expect(inTheirs).toBe('ProvisionedThroughputExceededException');
    expect(mine.fired).toEqual([]);
    expect(theirs.fired).toHaveLength(1);
  });

  it('stop firing once removed or cleared, and keep the record of what fired', async () => {
    // Prepare
    const faults = runtimeFaults();
    const call = SERVICES.sqs(1);
    faults.inject({ service: 'sqs', effect: 'throttle', times: 1 });
    const handle = faults.inject({ service: 'sqs', effect: 'server-error' });
    await runCrashable(invocationOf(faults), call).catch(() => undefined);

    // Act
    handle.remove();
    const afterRemove = await runCrashable(invocationOf(faults), call);
    faults.inject({ service: 'sqs', effect: 'server-error' });
    faults.clear();
    const afterClear = await runCrashable(invocationOf(faults), call);

    // Assess
    expect(afterRemove.$metadata.attempts).toBe(1);
    expect(afterClear.$metadata.attempts).toBe(1);
    expect(faults.fired.map(({ label }) => label)).toEqual(['sqs any call throttle']);
  });

  it.each([
    [{ service: 'kinesis' }, 'Unknown fault service kinesis: one of dynamodb, sqs, management'],
    [{ effect: 'explode' }, 'Unknown fault effect explode'],
    [{ skip: -1 }, 'skip must be a whole number ≥ 0, not -1'],
    [{ times: 0 }, 'times must be a whole number ≥ 1 or Infinity, not 0'],
    [
      { error: 'SlowDown' },
      'dynamodb has no throttle error SlowDown: one of ProvisionedThroughputExceededException, ThrottlingException',
    ],
    [{ effect: 'crash-after', error: 'InternalServerError' }, 'A crash-after fault throws no error'],
  ])('refuse bad input %j with a clear error and inject nothing', async (bad, message) => {
    // Prepare
    const faults = runtimeFaults();

    // Act
    const inject = () => faults.inject({ service: 'dynamodb', effect: 'throttle', ...bad } as never);

    // Assess
    expect(inject).toThrow(message);
    expect((await runCrashable(invocationOf(faults), SERVICES.dynamodb(1))).$metadata.attempts).toBe(1);
  });

  it('refuses an unknown crash point', () => {
    expect(() => runtimeFaults().crashAt('send:somewhere' as never)).toThrow(
      'Unknown crash point send:somewhere: one of send:after-seq-reserved',
    );
  });
});

describe('a crash', () => {
  it('before a call ends the invocation without the call leaving, and the call never settles', async () => {
    // Prepare
    const faults = runtimeFaults();
    const invocation = invocationOf(faults, 'send');
    faults.inject({ service: 'sqs', command: 'ListQueuesCommand', effect: 'crash-before', label: 'before' });
    let settled = false;

    // Act
    runCrashable(invocation, SERVICES.sqs(3)).finally(() => {
      settled = true;
    });
    await expect.poll(() => invocation.crash.mock.calls.length).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));

    // Assess
    expect(invocation.crash).toHaveBeenCalledWith('before');
    expect(received).toBe(0);
    expect(settled).toBe(false);
  });

  it('after a call ends the invocation once the call has landed', async () => {
    // Prepare
    const faults = runtimeFaults();
    const invocation = invocationOf(faults, 'fanout');
    const handle = faults.inject({ service: 'management', effect: 'crash-after', label: 'after' });

    // Act
    void runCrashable(invocation, SERVICES.management(1));
    await expect.poll(() => invocation.crash.mock.calls.length).toBe(1);

    // Assess
    expect(received).toBe(1);
    expect(handle.fired).toBe(1);
    expect(faults.fired).toEqual([expect.objectContaining({ label: 'after', effect: 'crash-after' })]);
  });

  it('after a call that failed does not fire: the point after it was never reached', async () => {
    // Prepare
    const faults = runtimeFaults();
    const invocation = invocationOf(faults, 'fanout');
    const handle = faults.inject({ service: 'management', effect: 'crash-after', times: 1 });
    answers = [WIRE.management('GoneException', 410)];

    // Act
    const gone = await runCrashable(invocation, SERVICES.management(1)).catch((err: Error) => err.name);
    void runCrashable(invocation, SERVICES.management(1));
    await expect.poll(() => invocation.crash.mock.calls.length).toBe(1);

    // Assess
    expect(gone).toBe('GoneException');
    expect(handle.fired).toBe(1);
    expect(received).toBe(2);
  });
});

describe('a crash rule', () => {
  it('crashes nothing through a call an invocation left running after it ended, and lets the call through', async () => {
    // Prepare
    const faults = runtimeFaults();
    const ended = {
      ...invocationOf(faults, 'fanout'),
      crash: vi.fn<(reason: string) => boolean>(() => false),
    };
    const before = faults.inject({ service: 'sqs', effect: 'crash-before', times: 1 });
    const after = faults.inject({ service: 'management', effect: 'crash-after', times: 1 });

    // Act
    const queues = await runCrashable(ended, SERVICES.sqs(1));
    const posted = await runCrashable(ended, SERVICES.management(1));

    // Assess
    expect([queues.$metadata.attempts, posted.$metadata.attempts]).toEqual([1, 1]);
    expect(ended.crash).toHaveBeenCalledTimes(2);
    expect([before.fired, after.fired, faults.fired]).toEqual([0, 0, []]);
    expect(received).toBe(2);
  });
});

describe('the named crash points', () => {
  it("send:after-seq-reserved matches the send's seq reservation and no other UpdateItem", async () => {
    // Prepare: the real reservation's command, through a document client stand-in.
    const sent: { input: Record<string, unknown> }[] = [];
    const ddb = {
      send: async (command: { input: Record<string, unknown> }) => {
        sent.push(command);
        return { Attributes: { lastSeq: 1 } };
      },
    };

    // Act
    await reserveCounted({ ddb, tables: { conversations: 't' } } as never, 'c-1', 'now', {});
    const point = CRASH_POINTS['send:after-seq-reserved'];

    // Assess
    expect(sent).toHaveLength(1);
    expect(point.where?.(sent[0]?.input ?? {})).toBe(true);
    expect(point.where?.({ UpdateExpression: 'SET #claim = :token' })).toBe(false);
  });
});

describe('a crashed local invocation', () => {
  it('fails its caller as a runtime that exited, refuses its later calls and ignores its result', async () => {
    // Prepare
    const faults = runtimeFaults();
    const functions = await loadFunctions(
      { crashy: { entry: 'test/unit/faults-handler.ts', description: 'calls as told', tables: {} } },
      { root: path.join(__dirname, '..', '..'), onLog: () => undefined, faults },
    );
    const dynamodb = SERVICES.dynamodb(1);
    const afterTheCrash = deferred();
    let later: Promise<unknown> | undefined;
    behaviour.run = async () => {
      // A branch that goes on after the crash, as another of a Promise.all would.
      later = afterTheCrash.promise.then(dynamodb);
      await dynamodb();
      return 'the result';
    };
    faults.inject({
      service: 'dynamodb',
      functionName: 'crashy',
      effect: 'crash-after',
      times: 1,
      label: 'here',
    });

    // Act
    const outcome = await functions.invoke('crashy', {}).catch((err: FunctionCrashError) => err);
    afterTheCrash.resolve();

    // Assess
    expect(outcome).toMatchObject({
      name: 'Runtime.ExitError',
      message: 'Runtime exited with error: crashed at here (crashy)',
    });
    await expect(later).rejects.toThrow(InvocationStoppedError);
    expect(received).toBe(1);
  });

  it('is not crashed by a call it left running once it has returned', async () => {
    // Prepare
    const faults = runtimeFaults();
    const functions = await loadFunctions(
      { returns: { entry: 'test/unit/faults-handler.ts', description: 'returns at once', tables: {} } },
      { root: path.join(__dirname, '..', '..'), onLog: () => undefined, faults },
    );
    const queues = SERVICES.sqs(1);
    const returned = deferred();
    let leftRunning: Promise<unknown> | undefined;
    behaviour.run = async () => {
      leftRunning = returned.promise.then(queues);
      return 'the result';
    };
    faults.inject({ service: 'sqs', effect: 'crash-before' });

    // Act
    const result = await functions.invoke('returns', {});
    returned.resolve();

    // Assess
    expect(result).toBe('the result');
    await expect(leftRunning).resolves.toMatchObject({ $metadata: { attempts: 1 } });
    expect(faults.fired).toEqual([]);
  });
});
