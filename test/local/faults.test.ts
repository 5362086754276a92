/**
 * Issue 18, point 1: the faults only the runtime can inject, on a real runtime. A crash at each named
 * point and a throttle, each in turn in one conversation of three subscribers: what the sender sees, and
 * that every message acked is stored once under its seq and reaches every subscriber.
 */
import { randomUUID } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { ChatClient, Frame } from '../e2e/chat-client';
import { connectAs, createConversation, letAnyoneAdd, sendMessage } from '../e2e/helpers';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';

// A crashed fan-out's record comes back after its visibility timeout: 2 s here, not 3 minutes. The queue
// emulator runs in a process of its own, as a chaos run has it, to be frozen alone.
const { runtime, track } = useLocalRuntime({ visibilityTimeoutSeconds: 2, queueEmulatorProcess: true });

const alice = uniqueUser('alice');
const subscribers = ['bob', 'carol', 'dave'].map(uniqueUser);
let sender: ChatClient;
let listeners: ChatClient[];
let conversationId: string;
/** clientMessageId → the seq its ack named. */
const acked = new Map<string, number>();
/** The attempts of the send's claim the lasting throttle refused. */
let throttledAttempts = 0;

beforeAll(async () => {
  await letAnyoneAdd(runtime(), subscribers);
  sender = await track(connectAs(runtime(), alice));
  conversationId = await createConversation(sender, subscribers);
  listeners = await Promise.all(subscribers.map((user) => track(connectAs(runtime(), user))));
  for (const listener of listeners) {
    expect(await listener.request({ action: 'subscribe', conversationId })).toMatchObject({ type: 'ack' });
  }
});

/** Sends like the SDK (resending what is retryable) and records the ack. */
async function send(clientMessageId: string, client = sender): Promise<Frame> {
  const reply = await sendMessage(client, conversationId, clientMessageId, `body of ${clientMessageId}`);
  if (reply.type === 'ack') acked.set(clientMessageId, Number(reply.seq));
  return reply;
}

/** Sends one frame whose invocation crashes: API Gateway answers its own error, naming no request of ours. */
async function sendIntoCrash(clientMessageId: string): Promise<Frame> {
  const before = sender.frames.length;
  sender.sendRaw(
    JSON.stringify({
      action: 'send',
      requestId: randomUUID(),
      conversationId,
      clientMessageId,
      body: `body of ${clientMessageId}`,
    }),
  );
  const apiGatewayError = () => sender.frames.slice(before).find((frame) => 'message' in frame);
  await expect.poll(apiGatewayError, { timeout: 10_000 }).toBeDefined();
  return apiGatewayError() as Frame;
}

/** The stored items of the conversation: seq → clientMessageId (undefined for a tombstone). */
async function stored(): Promise<Map<number, string | undefined>> {
  const { Items = [] } = await runtime().clients.dynamodb.send(
    new QueryCommand({
      TableName: runtime().tables.messages,
      KeyConditionExpression: 'conversationId = :c',
      ExpressionAttributeValues: { ':c': { S: conversationId } },
      ConsistentRead: true,
    }),
  );
  return new Map(Items.map((item) => [Number(item.seq?.N), item.clientMessageId?.S]));
}

const INTERNAL_SERVER_ERROR = { message: 'Internal server error', connectionId: expect.any(String) };

describe('faults injected into the local runtime', () => {
  it('a send crashed after the store and before the enqueue fails; its resend is acked and delivered', async () => {
    // Prepare
    await send('m-1');
    const crash = runtime().faults.crashAt('send:after-store-before-enqueue');

    // Act
    const crashed = await sendIntoCrash('m-2');
    const resent = await send('m-2');

    // Assess
    expect(crashed).toMatchObject(INTERNAL_SERVER_ERROR);
    expect(crash.fired).toBe(1);
    expect(resent).toMatchObject({ type: 'ack', seq: 2, duplicate: true });
  });

  it('a fan-out crashed mid-delivery is retried until every subscriber has the message', async () => {
    // Prepare
    const crash = runtime().faults.crashAt('fanout:mid-delivery');

    // Act
    const reply = await send('m-3');

    // Assess
    expect(reply).toMatchObject({ type: 'ack', seq: 3 });
    await expect.poll(() => crash.fired, { timeout: 10_000 }).toBe(1);
    for (const listener of listeners) {
      await expect.poll(() => listener.seqs(conversationId), { timeout: 15_000 }).toContain(3);
    }
  });

  it('a throttled DynamoDB is retried by the SDK, and past its retries answered busy, then acked on resend', async () => {
    // Prepare
    const { faults } = runtime();
    const absorbed = faults.inject({
      service: 'dynamodb',
      functionName: 'send',
      effect: 'throttle',
      times: 2,
    });

    // Act
    const throughRetries = await send('m-4');
    absorbed.remove();
    const lasting = faults.inject({
      service: 'dynamodb',
      command: 'PutItemCommand',
      functionName: 'send',
      effect: 'throttle',
    });
    const refused = await sender.request({
      action: 'send',
      conversationId,
      clientMessageId: 'm-5',
      body: 'body of m-5',
    });
    lasting.remove();
    const resent = await send('m-5');

    // Assess
    expect(throughRetries).toMatchObject({ type: 'ack', seq: 4 });
    expect(absorbed.fired).toBe(2);
    expect(refused).toMatchObject({ type: 'error', code: 'busy', retryable: true });
    // The SDK's DynamoDB client makes 4 attempts by default, unless the send's deadline comes first.
    expect(lasting.fired).toBeGreaterThanOrEqual(2);
    expect(lasting.fired).toBeLessThanOrEqual(4);
    throttledAttempts = lasting.fired;
    expect(resent).toMatchObject({ type: 'ack', seq: 5 });
  });

  it('a send crashed after its seq was reserved fails, holds its claim, and the next message takes the next seq', async () => {
    // Prepare
    const crash = runtime().faults.crashAt('send:after-seq-reserved');

    // Act
    const crashed = await sendIntoCrash('m-6');
    const resent = await sender.request({
      action: 'send',
      conversationId,
      clientMessageId: 'm-6',
      body: 'body of m-6',
    });
    const next = await send('m-7');

    // Assess: the claim is live for the writer lease (a resend then takes it over); seq 6 is a hole.
    expect(crashed).toMatchObject(INTERNAL_SERVER_ERROR);
    expect(crash.fired).toBe(1);
    expect(resent).toMatchObject({ type: 'error', code: 'busy', retryable: true });
    expect(next).toMatchObject({ type: 'ack', seq: 7 });
  });

  it('lost nothing acked: each acked message is stored once under its seq and reached every subscriber', async () => {
    // Act
    const items = await stored();

    // Assess
    expect([...acked]).toEqual([
      ['m-1', 1],
      ['m-2', 2],
      ['m-3', 3],
      ['m-4', 4],
      ['m-5', 5],
      ['m-7', 7],
    ]);
    for (const [clientMessageId, seq] of acked) expect(items.get(seq)).toBe(clientMessageId);
    expect(items.has(6)).toBe(false);
    for (const listener of listeners) {
      await expect.poll(() => listener.seqs(conversationId), { timeout: 15_000 }).toEqual([1, 2, 3, 4, 5, 7]);
    }
    expect(runtime().faults.fired.map(({ label }) => label)).toEqual([
      'send:after-store-before-enqueue',
      'fanout:mid-delivery',
      'dynamodb any call throttle',
      'dynamodb any call throttle',
      ...Array<string>(throttledAttempts).fill('dynamodb PutItemCommand throttle'),
      'send:after-seq-reserved',
    ]);
  });

  it('runs the queue emulator in a process of its own, which freezing stops alone and resuming restarts', async () => {
    // Prepare
    const { clients, processes, queues } = runtime();
    const pid = processes.queueEmulator ?? -1;
    const attributes = () =>
      clients.sqs
        .send(new GetQueueAttributesCommand({ QueueUrl: queues.fanout.url, AttributeNames: ['All'] }), {
          abortSignal: AbortSignal.timeout(500),
        })
        .then(
          () => 'answered',
          (err: Error) => err.name,
        );

    // Act
    process.kill(pid, 'SIGSTOP');
    const frozen = await attributes().finally(() => process.kill(pid, 'SIGCONT'));
    // A resumed process may take a moment to answer on a loaded machine; each try still has 500 ms.
    const resumed = await vi.waitFor(
      async () => {
        const answer = await attributes();
        if (answer !== 'answered') throw new Error(`not answered yet: ${answer}`);
        return answer;
      },
      { timeout: 10_000, interval: 200 },
    );
    const afterwards = await send('m-8');

    // Assess
    expect(pid).not.toBe(process.pid);
    expect(processes.dynamoDb).toBeUndefined(); // the run's shared DynamoDB Local is not this runtime's
    expect([frozen, resumed]).toEqual(['AbortError', 'answered']);
    expect(afterwards).toMatchObject({ type: 'ack', seq: 8 });
  });
});
