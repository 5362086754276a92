import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AwsRequest,
  INVOCATION_GUARD_STEP,
  InvocationStoppedError,
  interceptAwsCalls,
  invocationGuard,
  observeAwsRequests,
  runInvocation,
  runScoped,
} from '../../shared/invocation';
import { createActionHandler } from '../../shared/route-kit';
import { routeEvent } from '../support/api-gateway';
import { deferred } from '../support/deferred';
import { routeKitDeps } from '../support/route-kit';

/**
 * A stand-in for DynamoDB on 127.0.0.1: it counts the requests that reach it and answers each with the
 * next of `answers` (status and body, then `afterwards`), or `{}` once they run out.
 */
let server: Server;
let endpoint: string;
let received = 0;
let answers: { status: number; body: string; afterwards?: () => void }[] = [];

function answer(_request: IncomingMessage, response: ServerResponse): void {
  received++;
  const next = answers.shift() ?? { status: 200, body: '{}' };
  response.writeHead(next.status, { 'content-type': 'application/x-amz-json-1.0' });
  response.end(next.body, () => next.afterwards?.());
}

/** A DynamoDB client with the invocation guard, as shared/aws/dynamodb.ts builds it, pointed at the stand-in. */
function guardedClient(maxAttempts = 1): DynamoDBClient {
  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts,
  });
  client.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
  return client;
}

const invocation = (functionName: string) => {
  const controller = new AbortController();
  return { controller, invocation: { functionName, signal: controller.signal } };
};

let seen: AwsRequest[] = [];
let stopObserving: () => void = () => {};
const clients: DynamoDBClient[] = [];

beforeAll(async () => {
  server = createServer(answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received = 0;
  answers = [];
  seen = [];
  stopObserving = observeAwsRequests((request) => seen.push(request));
});

afterEach(() => {
  stopObserving();
  for (const client of clients.splice(0)) client.destroy();
});

const client = (maxAttempts?: number): DynamoDBClient => {
  const created = guardedClient(maxAttempts);
  clients.push(created);
  return created;
};

describe('invocationGuard', () => {
  it('lets the requests of a running invocation through and reports each with its client, command and function', async () => {
    // Prepare
    const ddb = client();
    const { invocation: send } = invocation('send');

    // Act
    const output = await runInvocation(send, () => ddb.send(new ListTablesCommand({})));

    // Assess
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(received).toBe(1);
    expect(seen).toEqual([{ client: 'DynamoDBClient', command: 'ListTablesCommand', functionName: 'send' }]);
  });

  it('refuses a request of an invocation whose signal was aborted, before it leaves the process', async () => {
    // Prepare
    const ddb = client();
    const { controller, invocation: send } = invocation('send');
    controller.abort();

    // Act
    const request = runInvocation(send, () => ddb.send(new ListTablesCommand({})));

    // Assess
    await expect(request).rejects.toThrow(InvocationStoppedError);
    await expect(request).rejects.toThrow('ListTablesCommand refused: invocation of send was stopped');
    expect(received).toBe(0);
    expect(seen).toEqual([]);
  });

  it('refuses the requests that a stopped invocation still makes from nested awaits', async () => {
    // Prepare: the invocation is stopped while it waits between two requests.
    const ddb = client();
    const { controller, invocation: send } = invocation('send');
    const waiting = deferred();
    const waitOver = deferred();
    const afterTheWait = async () => {
      waiting.resolve();
      await waitOver.promise;
      return ddb.send(new ListTablesCommand({}));
    };

    // Act
    const run = runInvocation(send, async () => {
      await ddb.send(new ListTablesCommand({}));
      return afterTheWait();
    });
    await waiting.promise;
    controller.abort();
    waitOver.resolve();

    // Assess
    await expect(run).rejects.toThrow(InvocationStoppedError);
    expect(received).toBe(1);
  });

  it('refuses the SDK retries of an invocation stopped while its first attempt was in flight', async () => {
    // Prepare: the first attempt fails retryably, and the invocation is stopped as it does.
    const ddb = client(3);
    const { controller, invocation: send } = invocation('send');
    answers = [
      {
        status: 500,
        body: '{"__type":"com.amazonaws.dynamodb#InternalServerError","message":"try again"}',
        afterwards: () => controller.abort(),
      },
    ];

    // Act
    const request = runInvocation(send, () => ddb.send(new ListTablesCommand({})));

    // Assess
    await expect(request).rejects.toThrow(InvocationStoppedError);
    expect(received).toBe(1);
  });

  it('reports each SDK retry as a request of its own', async () => {
    // Prepare
    const ddb = client(3);
    const { invocation: send } = invocation('send');
    answers = [{ status: 500, body: '{"__type":"com.amazonaws.dynamodb#InternalServerError"}' }];

    // Act
    await runInvocation(send, () => ddb.send(new ListTablesCommand({})));

    // Assess
    expect(received).toBe(2);
    expect(seen).toHaveLength(2);
  });

  it('lets another invocation go on when one is stopped', async () => {
    // Prepare
    const ddb = client();
    const stopped = invocation('send');
    const running = invocation('fanout');
    stopped.controller.abort();

    // Act: the running invocation sends once the stopped one has been refused.
    const refusal = runInvocation(stopped.invocation, () => ddb.send(new ListTablesCommand({})));
    const [refused, passed] = await Promise.allSettled([
      refusal,
      runInvocation(running.invocation, async () => {
        await refusal.catch(() => undefined);
        return ddb.send(new ListTablesCommand({}));
      }),
    ]);

    // Assess
    expect(refused).toMatchObject({ status: 'rejected', reason: expect.any(InvocationStoppedError) });
    expect(passed).toMatchObject({ status: 'fulfilled' });
    expect(seen).toEqual([expect.objectContaining({ functionName: 'fanout' })]);
  });

  it('only reports a request made outside any invocation', async () => {
    // Prepare: an invocation stopped elsewhere must not affect a request outside it.
    const ddb = client();
    invocation('send').controller.abort();

    // Act
    const output = await ddb.send(new ListTablesCommand({}));

    // Assess
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(received).toBe(1);
    expect(seen).toEqual([
      { client: 'DynamoDBClient', command: 'ListTablesCommand', functionName: undefined },
    ]);
  });
});

describe('observeAwsRequests', () => {
  it('stops calling an observer once it has unsubscribed', async () => {
    // Prepare
    const ddb = client();
    const mine: AwsRequest[] = [];
    const unsubscribe = observeAwsRequests((request) => mine.push(request));
    await ddb.send(new ListTablesCommand({}));

    // Act
    unsubscribe();
    await ddb.send(new ListTablesCommand({}));

    // Assess
    expect(mine).toHaveLength(1);
    expect(seen).toHaveLength(2);
  });
});

describe('interceptAwsCalls', () => {
  it('answers a call in place of the service, with the call and the invocation it belongs to', async () => {
    // Prepare
    const ddb = client();
    const calls: unknown[] = [];
    const remove = interceptAwsCalls(async (call) => {
      calls.push(call);
      return { TableNames: ['answered-here'], $metadata: {} };
    });

    // Act
    const output = await runInvocation(invocation('fanout').invocation, () =>
      ddb.send(new ListTablesCommand({ Limit: 3 })),
    ).finally(remove);

    // Assess
    expect(output.TableNames).toEqual(['answered-here']);
    expect(received).toBe(0);
    expect(calls).toEqual([
      { client: 'DynamoDBClient', command: 'ListTablesCommand', functionName: 'fanout', input: { Limit: 3 } },
    ]);
  });

  it("passes a call on and sees the service's output; a thrown error goes through the SDK's retries", async () => {
    // Prepare: the first attempt fails as a throttled service would; the retry reaches the stand-in.
    const ddb = client(2);
    answers = [{ status: 200, body: '{"TableNames":["from-the-service"]}' }];
    let attempts = 0;
    const outputs: unknown[] = [];
    const remove = interceptAwsCalls(async (_call, proceed) => {
      attempts++;
      if (attempts === 1) {
        throw Object.assign(new Error('Rate exceeded'), {
          name: 'ThrottlingException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
        });
      }
      const output = await proceed();
      outputs.push(output);
      return output;
    });

    // Act
    const output = await ddb.send(new ListTablesCommand({})).finally(remove);

    // Assess
    expect(output.TableNames).toEqual(['from-the-service']);
    expect(output.$metadata.attempts).toBe(2);
    expect(received).toBe(1);
    expect(outputs).toEqual([expect.objectContaining({ TableNames: ['from-the-service'] })]);
  });

  it('stops intercepting once removed', async () => {
    // Prepare
    const ddb = client();
    const remove = interceptAwsCalls(async () => ({ TableNames: ['answered-here'], $metadata: {} }));

    // Act
    remove();
    const output = await ddb.send(new ListTablesCommand({}));

    // Assess
    expect(output.TableNames).toBeUndefined();
    expect(received).toBe(1);
  });
});

describe('runScoped', () => {
  it('ends a scope when its own signal aborts, and when the invocation around it is stopped', async () => {
    // Prepare
    const ddb = client();
    const outer = invocation('conversations');
    const ownEnd = new AbortController();
    const outerEnd = new AbortController();

    // Act
    const [ownRefused, outerRefused, passed] = await Promise.allSettled([
      runScoped('route', ownEnd.signal, async () => {
        ownEnd.abort();
        return ddb.send(new ListTablesCommand({}));
      }),
      runInvocation(outer.invocation, () =>
        runScoped('route', outerEnd.signal, async () => {
          outer.controller.abort();
          return ddb.send(new ListTablesCommand({}));
        }),
      ),
      runScoped('route', new AbortController().signal, () => ddb.send(new ListTablesCommand({}))),
    ]);

    // Assess
    expect(ownRefused).toMatchObject({ status: 'rejected', reason: expect.any(InvocationStoppedError) });
    expect(outerRefused).toMatchObject({ status: 'rejected', reason: expect.any(InvocationStoppedError) });
    expect(passed).toMatchObject({ status: 'fulfilled' });
    expect(received).toBe(1);
  });
});

describe('the route kit after its reply', () => {
  it('refuses the AWS calls a route still makes after it was answered busy at its deadline', async () => {
    // Prepare: a route that outlives its deadline, then makes a call (a frozen Lambda resuming it later).
    const ddb = client();
    const held = deferred();
    let late: Promise<unknown> | undefined;
    const slow = async () => {
      await held.promise;
      late = ddb.send(new ListTablesCommand({}));
      await late;
      return {};
    };
    const handler = createActionHandler(routeKitDeps({ clock: Date.now }), { ping: slow });
    const event = routeEvent({ body: { action: 'ping', requestId: 'r-1' } });

    // Act: 1.2 s left, so the deadline (less the 1 s margin) comes at once.
    const result = await handler(event, { getRemainingTimeInMillis: () => 1_200 });
    held.resolve();

    // Assess
    expect(JSON.parse(result.body ?? '{}')).toMatchObject({ type: 'error', code: 'busy', requestId: 'r-1' });
    await expect.poll(() => late !== undefined).toBe(true);
    await expect(late).rejects.toThrow(InvocationStoppedError);
    expect(received).toBe(0);
  });
});
