import { createHash } from 'node:crypto';
import { setTimeout as simulateWork } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type FanoutDeps, processFanoutBatch } from '../../lambdas/fanout/fanout';
import { retryFailedSoon } from '../../lambdas/fanout/retry';
import {
  type SqsEventSource,
  type SqsEventSourceOptions,
  startSqsEventSource,
} from '../../local/event-source';
import { createQueues, type LocalQueue } from '../../local/resources';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/services';
import { INVOCATION_GUARD_STEP, invocationGuard } from '../../shared/invocation';
import { POISON_ATTRIBUTE, REDRIVE_COUNT_ATTRIBUTE } from '../../shared/queue-attributes';
import { recordingLogger } from '../support/fakes';
import { useSqsEmulator } from '../support/local-runtime';

const local = useSqsEmulator();
const sqs = (): SQSClient => local().sqs;
let queueCount = 0;
const running: SqsEventSource[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((source) => source.stop()));
});

/** A fresh queue pair per test, so no test sees another's messages. */
async function freshQueues(settings = { maxReceiveCount: 5, visibilityTimeoutSeconds: 30 }) {
  queueCount++;
  return createQueues(sqs(), `es${queueCount}`, settings);
}

function start(queue: LocalQueue, options: Omit<SqsEventSourceOptions, 'sqs' | 'queueUrl' | 'queueArn'>) {
  const source = startSqsEventSource({ sqs: sqs(), queueUrl: queue.url, queueArn: queue.arn, ...options });
  running.push(source);
  return source;
}

/** Sends `[group, body]` pairs in one request, in order, each with its own deduplication id. */
async function send(queue: LocalQueue, messages: [group: string, body: string][]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const { Failed } = await sqs().send(
      new SendMessageBatchCommand({
        QueueUrl: queue.url,
        Entries: messages.slice(i, i + 10).map(([group, body], j) => ({
          Id: String(i + j),
          MessageBody: body,
          MessageGroupId: group,
          MessageDeduplicationId: `${group}-${body}`,
        })),
      }),
    );
    expect(Failed ?? []).toEqual([]);
  }
}

async function counts(queue: LocalQueue): Promise<{ visible: number; inFlight: number }> {
  const { Attributes = {} } = await sqs().send(
    new GetQueueAttributesCommand({
      QueueUrl: queue.url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
  };
}

/** Sends records 1–8 of group conv-1 and 1–2 of conv-2, in order; answers conv-1's bodies. */
async function sendTwoGroups(queue: LocalQueue): Promise<string[]> {
  const seqs = Array.from({ length: 8 }, (_, i) => String(i + 1));
  await send(queue, [
    ...seqs.map((seq): [string, string] => ['conv-1', seq]),
    ['conv-2', '1'],
    ['conv-2', '2'],
  ]);
  return seqs;
}

const asEvent = (event: unknown): SQSEvent => event as SQSEvent;
const bodies = (event: SQSEvent): string[] => event.Records.map((record) => record.body);

describe('startSqsEventSource', () => {
  it('invokes with at most batchSize records and deletes a successful batch', async () => {
    // Prepare: seven groups, so a receive may return seven messages (fauxqs gives one per group).
    const { fanout } = await freshQueues();
    await send(
      fanout,
      ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((group) => [group, `m-${group}`]),
    );
    const batches: string[][] = [];

    // Act
    start(fanout, {
      batchSize: 3,
      maxConcurrency: 1,
      invoke: async (event) => {
        batches.push(bodies(asEvent(event)));
      },
    });

    // Assess
    await vi.waitFor(() => expect(batches.flat()).toHaveLength(7), { timeout: 10_000 });
    expect(batches.map((batch) => batch.length)).toEqual([3, 3, 1]);
    await expect.poll(() => counts(fanout), { timeout: 5_000 }).toEqual({ visible: 0, inFlight: 0 });
  });

  it('delivers the records of one group in order across batches, never two at once', async () => {
    // Prepare
    const { fanout } = await freshQueues();
    const seqs = await sendTwoGroups(fanout);
    const seen = new Map<string, string[]>();
    const inFlight = new Set<string>();
    const overlaps: string[] = [];

    // Act
    start(fanout, {
      maxConcurrency: 3,
      invoke: async (event) => {
        const groups = asEvent(event).Records.map((record) => record.attributes.MessageGroupId ?? '');
        for (const group of groups) if (inFlight.has(group)) overlaps.push(group);
        for (const group of groups) inFlight.add(group);
        await simulateWork(5);
        for (const record of asEvent(event).Records) {
          const group = record.attributes.MessageGroupId ?? '';
          seen.set(group, [...(seen.get(group) ?? []), record.body]);
          inFlight.delete(group);
        }
      },
    });

    // Assess
    await vi.waitFor(() => expect(seen.get('conv-1')).toHaveLength(8), { timeout: 10_000 });
    await vi.waitFor(() => expect(seen.get('conv-2')).toHaveLength(2), { timeout: 10_000 });
    expect(seen.get('conv-1')).toEqual(seqs);
    expect(seen.get('conv-2')).toEqual(['1', '2']);
    expect(overlaps).toEqual([]);
  });

  it("hands several records of one group to one invocation, in order, as Lambda's FIFO poller does", async () => {
    // Prepare: fauxqs alone would hand these out one per group per receive.
    const { fanout } = await freshQueues();
    const seqs = await sendTwoGroups(fanout);
    const batches: [string, string][][] = [];

    // Act
    start(fanout, {
      maxConcurrency: 1,
      invoke: async (event) => {
        batches.push(asEvent(event).Records.map((r) => [r.attributes.MessageGroupId ?? '', r.body]));
      },
    });

    // Assess
    await vi.waitFor(() => expect(batches.flat()).toHaveLength(10), { timeout: 10_000 });
    expect(batches).toHaveLength(1);
    expect(batches[0]?.filter(([group]) => group === 'conv-1').map(([, body]) => body)).toEqual(seqs);
    expect(batches[0]?.filter(([group]) => group === 'conv-2').map(([, body]) => body)).toEqual(['1', '2']);
    await expect.poll(() => counts(fanout), { timeout: 5_000 }).toEqual({ visible: 0, inFlight: 0 });
  });

  it('returns the failed tail of a group after the visibility timeout, ahead of what arrived meanwhile', async () => {
    // Prepare
    const { fanout } = await freshQueues({ maxReceiveCount: 5, visibilityTimeoutSeconds: 1 });
    await send(
      fanout,
      ['1', '2', '3', '4', '5'].map((seq): [string, string] => ['g', seq]),
    );
    const deliveries: { bodies: string[]; receiveCounts: string[]; at: number }[] = [];

    // Act: the first batch fails from 3 on, as the fan-out reports a group; 6 and 7 arrive while 3 waits.
    start(fanout, {
      invoke: async (event): Promise<SQSBatchResponse> => {
        const records = asEvent(event).Records;
        deliveries.push({
          bodies: records.map((r) => r.body),
          receiveCounts: records.map((r) => r.attributes.ApproximateReceiveCount),
          at: Date.now(),
        });
        if (deliveries.length > 1) return { batchItemFailures: [] };
        await send(fanout, [
          ['g', '6'],
          ['g', '7'],
        ]);
        return { batchItemFailures: records.slice(2).map((r) => ({ itemIdentifier: r.messageId })) };
      },
    });

    // Assess
    await vi.waitFor(() => expect(deliveries.flatMap((d) => d.bodies)).toHaveLength(10), { timeout: 10_000 });
    expect(deliveries.map((d) => d.bodies)).toEqual([
      ['1', '2', '3', '4', '5'],
      ['3', '4', '5', '6', '7'],
    ]);
    expect(deliveries[1]?.receiveCounts).toEqual(['2', '2', '2', '1', '1']);
    expect((deliveries[1]?.at ?? 0) - (deliveries[0]?.at ?? 0)).toBeGreaterThanOrEqual(900);
    await expect.poll(() => counts(fanout), { timeout: 5_000 }).toEqual({ visible: 0, inFlight: 0 });
  });

  it("brings a failed record back when the function's visibility change says, not after the queue's timeout", async () => {
    // Prepare: the queue hides a failed record for 30 s; the function asks for 1 s (its first receive),
    // through a guarded client as the fan-out's own, which the event source answers for its records.
    const { fanout } = await freshQueues({ maxReceiveCount: 5, visibilityTimeoutSeconds: 30 });
    const other = await freshQueues({ maxReceiveCount: 5, visibilityTimeoutSeconds: 30 });
    const functionSqs = new SQSClient({
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: local().emulator.endpoint,
    });
    functionSqs.middlewareStack.add(invocationGuard(), INVOCATION_GUARD_STEP);
    await send(fanout, [
      ['g', '1'],
      ['g', '2'],
    ]);
    const deliveries: { bodies: string[]; receiveCounts: string[]; at: number }[] = [];
    let otherQueueAnswer: unknown;
    const visibilityWarnings = vi.fn();

    // Act: the first batch fails from 2 on and shortens the failed record's visibility, as the fan-out does
    start(fanout, {
      invoke: async (event): Promise<SQSBatchResponse> => {
        const records = asEvent(event).Records;
        deliveries.push({
          bodies: records.map((r) => r.body),
          receiveCounts: records.map((r) => r.attributes.ApproximateReceiveCount),
          at: Date.now(),
        });
        if (deliveries.length > 1) return { batchItemFailures: [] };
        const response = {
          batchItemFailures: records.slice(1).map((r) => ({ itemIdentifier: r.messageId })),
        };
        await retryFailedSoon(
          { sqs: functionSqs, queueUrl: fanout.url, logger: { warn: visibilityWarnings } },
          asEvent(event),
          response,
        );
        // Another queue's call passes on to the emulator, which knows no such handle.
        otherQueueAnswer = await functionSqs
          .send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: other.fanout.url,
              Entries: [{ Id: '0', ReceiptHandle: records[1]?.receiptHandle, VisibilityTimeout: 0 }],
            }),
          )
          .catch((err: unknown) => err);
        return response;
      },
    });

    // Assess: back after about a second, not thirty
    await vi.waitFor(() => expect(deliveries.flatMap((d) => d.bodies)).toHaveLength(3), { timeout: 10_000 });
    expect(deliveries.map((d) => d.bodies)).toEqual([['1', '2'], ['2']]);
    expect(deliveries[1]?.receiveCounts).toEqual(['2']);
    const after = (deliveries[1]?.at ?? 0) - (deliveries[0]?.at ?? 0);
    expect(after).toBeGreaterThanOrEqual(900);
    expect(after).toBeLessThan(10_000);
    expect(visibilityWarnings).not.toHaveBeenCalled();
    expect(JSON.stringify(otherQueueAnswer)).not.toContain('"Successful":[{');
    await expect.poll(() => counts(fanout), { timeout: 5_000 }).toEqual({ visible: 0, inFlight: 0 });
  });

  it('moves gathered records that keep failing to the DLQ, in their group and order, and the group carries on', async () => {
    // Prepare
    const { fanout, deadLetter } = await freshQueues({ maxReceiveCount: 2, visibilityTimeoutSeconds: 1 });
    await send(
      fanout,
      ['ok', 'doomed-1', 'doomed-2'].map((body): [string, string] => ['g', body]),
    );
    const delivered: string[] = [];
    const lines: string[] = [];

    // Act
    start(fanout, {
      onLog: (line) => lines.push(line),
      invoke: async (event): Promise<SQSBatchResponse> => {
        const records = asEvent(event).Records;
        delivered.push(...records.map((r) => `${r.body}#${r.attributes.ApproximateReceiveCount}`));
        const failing = records.filter((r) => r.body.startsWith('doomed'));
        return { batchItemFailures: failing.map((r) => ({ itemIdentifier: r.messageId })) };
      },
    });

    // Assess
    await expect.poll(() => counts(deadLetter), { timeout: 15_000 }).toEqual({ visible: 2, inFlight: 0 });
    const dead: (string | undefined)[][] = [];
    for (const _ of ['doomed-1', 'doomed-2']) {
      // A FIFO queue hands out the next of a group once the one before is deleted.
      const { Messages = [] } = await sqs().send(
        new ReceiveMessageCommand({
          QueueUrl: deadLetter.url,
          MessageSystemAttributeNames: ['MessageGroupId'],
        }),
      );
      dead.push(...Messages.map((m) => [m.Body, m.Attributes?.MessageGroupId]));
      await sqs().send(
        new DeleteMessageCommand({ QueueUrl: deadLetter.url, ReceiptHandle: Messages[0]?.ReceiptHandle }),
      );
    }
    expect(dead).toEqual([
      ['doomed-1', 'g'],
      ['doomed-2', 'g'],
    ]);
    expect(delivered.filter((d) => d.startsWith('ok'))).toEqual(['ok#1']);
    expect(delivered.filter((d) => d.startsWith('doomed-1'))).toEqual(['doomed-1#1', 'doomed-1#2']);
    expect(delivered.filter((d) => d.startsWith('doomed-2'))).toEqual(['doomed-2#1', 'doomed-2#2']);
    expect(lines).toContainEqual(expect.stringMatching(/moved \d record\(s\) to the dead-letter queue/));
    // The group carries on: what comes next (a redrive, a new message) is delivered.
    await send(fanout, [['g', 'ok-after']]);
    await vi.waitFor(() => expect(delivered).toContain('ok-after#1'), { timeout: 5_000 });
    expect(await counts(fanout)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('deletes the successful records, redelivers a reported failure after the visibility timeout and lets it reach the DLQ', async () => {
    // Prepare
    const { fanout, deadLetter } = await freshQueues({ maxReceiveCount: 2, visibilityTimeoutSeconds: 1 });
    await send(fanout, [
      ['a', 'ok-a'],
      ['b', 'fails'],
      ['c', 'ok-c'],
    ]);
    const deliveries: { body: string; receiveCount: string }[] = [];
    const lines: string[] = [];

    // Act
    start(fanout, {
      onLog: (line) => lines.push(line),
      invoke: async (event): Promise<SQSBatchResponse> => {
        const records = asEvent(event).Records;
        for (const record of records) {
          deliveries.push({ body: record.body, receiveCount: record.attributes.ApproximateReceiveCount });
        }
        return {
          batchItemFailures: records
            .filter((record) => record.body === 'fails')
            .map((record) => ({ itemIdentifier: record.messageId })),
        };
      },
    });

    // Assess
    await expect.poll(() => counts(deadLetter), { timeout: 15_000 }).toEqual({ visible: 1, inFlight: 0 });
    const dead = await sqs().send(
      new ReceiveMessageCommand({
        QueueUrl: deadLetter.url,
        MessageSystemAttributeNames: ['MessageGroupId'],
      }),
    );
    expect(dead.Messages?.map((m) => [m.Body, m.Attributes?.MessageGroupId])).toEqual([['fails', 'b']]);
    expect(deliveries.filter((d) => d.body === 'fails')).toEqual([
      { body: 'fails', receiveCount: '1' },
      { body: 'fails', receiveCount: '2' },
    ]);
    expect(deliveries.filter((d) => d.body !== 'fails').map((d) => d.body)).toEqual(['ok-a', 'ok-c']);
    expect(await counts(fanout)).toEqual({ visible: 0, inFlight: 0 });
    expect(lines[0]).toMatch(/^es\d+-fanout ← 3 records \(3 groups\) 1 failed \d+ ms$/);
  });

  it('logs no batch line when logInvocations is off', async () => {
    // Prepare
    const { fanout } = await freshQueues({ maxReceiveCount: 2, visibilityTimeoutSeconds: 1 });
    await send(fanout, [['a', 'ok-a']]);
    const lines: string[] = [];
    const bodies: string[] = [];
    // Act
    start(fanout, {
      onLog: (line) => lines.push(line),
      logInvocations: false,
      invoke: async (event): Promise<SQSBatchResponse> => {
        for (const record of asEvent(event).Records) bodies.push(record.body);
        return { batchItemFailures: [] };
      },
    });
    // Assess
    await expect.poll(() => counts(fanout), { timeout: 10_000 }).toEqual({ visible: 0, inFlight: 0 });
    expect(bodies).toEqual(['ok-a']);
    expect(lines).toEqual([]);
  });

  it.each([
    [
      'throws',
      async () => {
        throw new Error('boom');
      },
    ],
    [
      'names a record not in the batch',
      async () => ({ batchItemFailures: [{ itemIdentifier: 'not-in-batch' }] }),
    ],
    ['returns a malformed batchItemFailures', async () => ({ batchItemFailures: 'all of them' })],
  ])('deletes nothing when the handler %s, so every record returns', async (_, failOnce) => {
    // Prepare
    const { fanout } = await freshQueues({ maxReceiveCount: 5, visibilityTimeoutSeconds: 1 });
    await send(fanout, [
      ['x', 'one'],
      ['y', 'two'],
    ]);
    const receiveCounts: string[] = [];
    let calls = 0;

    // Act
    start(fanout, {
      maxConcurrency: 1,
      invoke: async (event) => {
        calls++;
        for (const record of asEvent(event).Records)
          receiveCounts.push(record.attributes.ApproximateReceiveCount);
        if (calls === 1) return failOnce();
      },
    });

    // Assess
    await vi.waitFor(() => expect(receiveCounts.sort()).toEqual(['1', '1', '2', '2']), { timeout: 10_000 });
    await expect.poll(() => counts(fanout), { timeout: 5_000 }).toEqual({ visible: 0, inFlight: 0 });
  });

  it('builds the SQSEvent Lambda builds, one the real fan-out handler can process', async () => {
    // Prepare
    const { fanout, deadLetter } = await freshQueues();
    const body = 'not a chat message';
    const sent = await sqs().send(
      new SendMessageCommand({
        QueueUrl: fanout.url,
        MessageBody: body,
        MessageGroupId: 'conv-9',
        MessageDeduplicationId: 'conv-9#1',
        MessageAttributes: {
          [REDRIVE_COUNT_ATTRIBUTE]: { DataType: 'Number', StringValue: '2' },
          blob: { DataType: 'Binary', BinaryValue: Buffer.from('hi') },
        },
      }),
    );
    const events: SQSEvent[] = [];
    const fanoutDeps: FanoutDeps = {
      ddb: DynamoDBDocumentClient.from(
        new DynamoDBClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
      ),
      sqs: sqs(),
      tables: { connections: 'unused', subscriptions: 'unused' },
      deadLetterQueueUrl: deadLetter.url,
      post: async () => ({ status: 'delivered', attempts: 1 }),
      disconnect: async () => undefined,
      metrics: { record: vi.fn() },
      logger: recordingLogger(),
    };

    // Act: the real fan-out moves a poison body to the DLQ using the record's group, dedup id and attributes.
    start(fanout, {
      invoke: async (event) => {
        events.push(asEvent(event));
        return processFanoutBatch(fanoutDeps, asEvent(event));
      },
    });

    // Assess
    await vi.waitFor(() => expect(events).toHaveLength(1), { timeout: 10_000 });
    const record = events[0]?.Records[0];
    expect(record).toEqual({
      messageId: sent.MessageId,
      receiptHandle: expect.any(String),
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d{13}$/),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
        MessageGroupId: 'conv-9',
        MessageDeduplicationId: 'conv-9#1',
        SequenceNumber: expect.stringMatching(/^\d+$/),
      },
      messageAttributes: {
        [REDRIVE_COUNT_ATTRIBUTE]: {
          stringValue: '2',
          stringListValues: [],
          binaryListValues: [],
          dataType: 'Number',
        },
        blob: {
          binaryValue: Buffer.from('hi').toString('base64'),
          stringListValues: [],
          binaryListValues: [],
          dataType: 'Binary',
        },
      },
      md5OfBody: createHash('md5').update(body).digest('hex'),
      md5OfMessageAttributes: sent.MD5OfMessageAttributes,
      eventSource: 'aws:sqs',
      eventSourceARN: fanout.arn,
      awsRegion: 'us-east-1',
    });
    const dead = await vi.waitFor(
      async () => {
        const { Messages } = await sqs().send(
          new ReceiveMessageCommand({
            QueueUrl: deadLetter.url,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        );
        expect(Messages).toHaveLength(1);
        return Messages?.[0];
      },
      { timeout: 10_000 },
    );
    expect(dead?.Attributes).toMatchObject({ MessageGroupId: 'conv-9', MessageDeduplicationId: 'conv-9#1' });
    expect(dead?.MessageAttributes?.[REDRIVE_COUNT_ATTRIBUTE]?.StringValue).toBe('2');
    expect(dead?.MessageAttributes?.[POISON_ATTRIBUTE]?.StringValue).toMatch(/not valid JSON/);
    await expect.poll(() => counts(fanout), { timeout: 5_000 }).toEqual({ visible: 0, inFlight: 0 });
  });

  it('stops promptly while a long poll waits on an empty queue', async () => {
    // Prepare
    const { fanout } = await freshQueues();
    const source = startSqsEventSource({
      sqs: sqs(),
      queueUrl: fanout.url,
      queueArn: fanout.arn,
      waitTimeSeconds: 20,
      invoke: async () => undefined,
    });

    // Act
    const started = performance.now();
    await source.stop();

    // Assess: without aborting the long poll, stop() would wait out the 20 s receive.
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('lets a batch in flight finish and delete its records before stop() resolves', async () => {
    // Prepare
    const { fanout } = await freshQueues();
    await send(fanout, [['g', 'slow']]);
    let stopCalled: () => void = () => undefined;
    const untilStopCalled = new Promise<void>((resolve) => {
      stopCalled = resolve;
    });
    let invoked = false;
    let finished = false;
    const source = startSqsEventSource({
      sqs: sqs(),
      queueUrl: fanout.url,
      queueArn: fanout.arn,
      invoke: async () => {
        invoked = true;
        await untilStopCalled;
        await simulateWork(200);
        finished = true;
      },
    });
    await vi.waitFor(() => expect(invoked).toBe(true), { timeout: 10_000 });

    // Act
    const stopping = source.stop();
    stopCalled();
    await stopping;

    // Assess: had stop() only ended the pollers, the handler would still be working and the record in flight.
    expect(finished).toBe(true);
    expect(await counts(fanout)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('refuses a batch size SQS cannot receive in one call', () => {
    expect(() =>
      startSqsEventSource({
        sqs: sqs(),
        queueUrl: 'q',
        queueArn: 'arn:aws:sqs:us-east-1:0:q',
        batchSize: 11,
        invoke: vi.fn(),
      }),
    ).toThrow(/batchSize must be an integer from 1 to 10/);
  });
});
