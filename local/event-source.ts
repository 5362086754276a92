/**
 * The SQS → Lambda event source mapping, as AWS runs it: long-polling pollers receive up to `batchSize`
 * messages, invoke the function with an SQSEvent shaped like Lambda's, and delete the records that did
 * not fail. Failed records are left alone, so they reappear after the queue's visibility timeout and the
 * queue's redrive policy moves them to the dead-letter queue after maxReceiveCount receives.
 *
 * On a FIFO queue a batch holds several records of one message group, in order, as Lambda's FIFO poller
 * hands them. fauxqs hands out one message per group per receive, so the poller gathers the rest itself
 * and keeps what it took (./fifo-hold.ts); it then applies the visibility timeout and the redrive policy
 * to failed records itself, and answers the function's visibility changes for the records it handed out
 * (docs/local-runtime.md, "Known differences").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type {
  SQSEvent,
  SQSMessageAttribute,
  SQSMessageAttributes,
  SQSRecord,
  SQSRecordAttributes,
} from 'aws-lambda';
import { FifoHold, type HeldRecord } from './fifo-hold';
import { answerVisibilityChanges } from './fifo-visibility';
import type { Invoke } from './functions';

export interface SqsEventSourceOptions {
  /** Pointed at the SQS emulator. */
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  /** Receives an SQSEvent, returns an SQSBatchResponse or nothing. */
  invoke: Invoke;
  /** Records per invocation, 1–10 (one ReceiveMessage). @default 10 */
  batchSize?: number;
  /** Concurrent pollers, hence concurrent batches. @default 2 */
  maxConcurrency?: number;
  /** Long polling wait; short so stop() is quick even when a receive is not abortable. @default 1 */
  waitTimeSeconds?: number;
  /** @default true */
  reportBatchItemFailures?: boolean;
  /** Names the source in log lines. @default the queue name without `.fifo` */
  name?: string;
  onLog?: (line: string) => void;
  /**
   * Log each completed batch. Off when the invoker logs invocations itself.
   * @default true
   */
  logInvocations?: boolean;
}

export interface SqsEventSource {
  /**
   * Ends the pollers and waits for the batches in flight to finish. An idle long poll is aborted; a
   * message the emulator hands to that aborted poll stays invisible for one visibility timeout, as a
   * receive that loses its connection does on SQS.
   */
  stop(): Promise<void>;
}

/** Pause after a failed receive, so a stopped emulator does not spin the loop. */
const RECEIVE_RETRY_MS = 1_000;

const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** One message attribute in Lambda's lower-camel shape (SQS's own API uses upper camel). */
function toLambdaAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  const attribute: SQSMessageAttribute = {
    stringListValues: value.StringListValues ?? [],
    binaryListValues: (value.BinaryListValues ?? []).map(base64),
    dataType: value.DataType ?? 'String',
  };
  if (value.StringValue !== undefined) attribute.stringValue = value.StringValue;
  if (value.BinaryValue !== undefined) attribute.binaryValue = base64(value.BinaryValue);
  return attribute;
}

function toRecordAttributes(attributes: Record<string, string> = {}): SQSRecordAttributes {
  const { ApproximateReceiveCount, SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp, ...optional } =
    attributes;
  const record: SQSRecordAttributes = {
    ApproximateReceiveCount: ApproximateReceiveCount ?? '1',
    SentTimestamp: SentTimestamp ?? '',
    SenderId: SenderId ?? '',
    ApproximateFirstReceiveTimestamp: ApproximateFirstReceiveTimestamp ?? '',
  };
  for (const name of [
    'AWSTraceHeader',
    'MessageGroupId',
    'MessageDeduplicationId',
    'SequenceNumber',
    'DeadLetterQueueSourceArn',
  ] as const) {
    const value = optional[name];
    if (value !== undefined) record[name] = value;
  }
  return record;
}

/** The SQSEvent Lambda would build from these received messages. */
export function toSqsEvent(messages: Message[], queueArn: string): SQSEvent {
  const awsRegion = queueArn.split(':')[3] ?? 'us-east-1';
  return {
    Records: messages.map((message): SQSRecord => {
      const messageAttributes: SQSMessageAttributes = {};
      for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
        messageAttributes[name] = toLambdaAttribute(value);
      }
      const record: SQSRecord = {
        messageId: message.MessageId ?? '',
        receiptHandle: message.ReceiptHandle ?? '',
        body: message.Body ?? '',
        attributes: toRecordAttributes(message.Attributes),
        messageAttributes,
        md5OfBody: message.MD5OfBody ?? '',
        eventSource: 'aws:sqs',
        eventSourceARN: queueArn,
        awsRegion,
      };
      if (message.MD5OfMessageAttributes !== undefined) {
        record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
      }
      return record;
    }),
  };
}

/**
 * The message ids that failed, read the way Lambda reads a partial batch response: nothing, or no or
 * an empty `batchItemFailures`, means all succeeded; a malformed list, or an id not in the batch,
 * fails the whole batch (`undefined`).
 */
export function failedMessageIds(response: unknown, batchIds: ReadonlySet<string>): Set<string> | undefined {
  if (response === undefined || response === null) return new Set();
  if (typeof response !== 'object') return undefined;
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return undefined;
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !batchIds.has(id)) return undefined;
    failed.add(id);
  }
  return failed;
}

function queueNameOf(queueArn: string): string {
  return (queueArn.split(':').at(-1) ?? queueArn).replace(/\.fifo$/, '');
}

/**
 * Starts `maxConcurrency` pollers on the queue. Each receives a batch, invokes, then deletes every
 * record not reported in `batchItemFailures`; a thrown error or an invalid response deletes nothing. On
 * a FIFO queue a batch gathers several records of a group, and failed ones are held and retried here.
 * @throws Error when `batchSize` is outside 1–10 (one ReceiveMessage; no batching window here).
 */
export function startSqsEventSource(options: SqsEventSourceOptions): SqsEventSource {
  const {
    sqs,
    queueUrl,
    queueArn,
    invoke,
    batchSize = 10,
    maxConcurrency = 2,
    waitTimeSeconds = 1,
    reportBatchItemFailures = true,
    name = queueNameOf(queueArn),
    onLog = () => undefined,
    logInvocations = true,
  } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) {
    throw new Error(`batchSize must be an integer from 1 to 10, got ${batchSize}`);
  }
  const controller = new AbortController();
  const { signal } = controller;

  const deleteHandles = async (handles: string[]): Promise<void> => {
    for (let i = 0; i < handles.length; i += 10) {
      const { Failed } = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: handles.slice(i, i + 10).map((handle, j) => ({ Id: String(j), ReceiptHandle: handle })),
        }),
      );
      for (const failure of Failed ?? []) {
        onLog(`${name} could not delete a record: ${failure.Code ?? ''} ${failure.Message ?? ''}`.trim());
      }
    }
  };

  /** Invokes the function with one batch; answers the ids that failed (all of them when it threw). */
  const invokeBatch = async (messages: Message[]): Promise<{ records: SQSRecord[]; failed: Set<string> }> => {
    const event = toSqsEvent(messages, queueArn);
    const all = new Set(event.Records.map((record) => record.messageId));
    const groups = new Set(event.Records.map((record) => record.attributes.MessageGroupId)).size;
    const count = event.Records.length;
    const head = `${name} ← ${count} record${count === 1 ? '' : 's'} (${groups} group${groups === 1 ? '' : 's'})`;
    const started = performance.now();
    const took = (): string => `${Math.round(performance.now() - started)} ms`;
    let response: unknown;
    try {
      response = await invoke(event);
    } catch (err: unknown) {
      onLog(`${head} threw ${err instanceof Error ? err.message : String(err)} ${took()}`);
      return { records: event.Records, failed: all };
    }
    const failed = reportBatchItemFailures ? failedMessageIds(response, all) : new Set<string>();
    if (failed === undefined) {
      onLog(`${head} invalid batch response, all ${count} kept ${took()}`);
      return { records: event.Records, failed: all };
    }
    if (logInvocations) onLog(`${head} ${failed.size === 0 ? 'ok' : `${failed.size} failed`} ${took()}`);
    return { records: event.Records, failed };
  };

  const receive = async (max: number, wait: number): Promise<Message[]> => {
    const output = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: wait,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: signal },
    );
    return output.Messages ?? [];
  };

  const fifo = queueArn.endsWith('.fifo') ? fifoPoller() : undefined;

  /** One receive and its batch; on a FIFO queue, one gathered batch. */
  const pollOnce = async (): Promise<void> => {
    if (fifo !== undefined) return fifo.pollOnce();
    const messages = await receive(batchSize, waitTimeSeconds);
    // A batch runs to completion even when stop() is called meanwhile: its records must be deleted.
    if (messages.length === 0) return;
    const { records, failed } = await invokeBatch(messages);
    await deleteHandles(records.filter((r) => !failed.has(r.messageId)).map((r) => r.receiptHandle));
  };

  /**
   * The FIFO poller: gathers up to `batchSize` records of the groups it receives, deleting each record to
   * unhide the next (the last ones stay in flight, keeping their groups locked while their batch runs),
   * runs a batch of the groups free to run, and holds the failed records itself: they return at the head
   * of their group after the visibility timeout, and past maxReceiveCount go to the dead-letter queue.
   */
  function fifoPoller() {
    let settings: { visibilityMs: number; maxReceiveCount: number; deadLetterUrl?: string } | undefined;
    const hold = new FifoHold(() => settings?.maxReceiveCount ?? Number.POSITIVE_INFINITY);
    const visibility = answerVisibilityChanges(queueUrl);

    const readSettings = async (): Promise<NonNullable<typeof settings>> => {
      const { Attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['VisibilityTimeout', 'RedrivePolicy'],
        }),
      );
      const visibilityMs = Number(Attributes.VisibilityTimeout ?? '30') * 1000;
      if (Attributes.RedrivePolicy === undefined)
        return { visibilityMs, maxReceiveCount: Number.POSITIVE_INFINITY };
      const policy = JSON.parse(Attributes.RedrivePolicy) as {
        deadLetterTargetArn: string;
        maxReceiveCount: number;
      };
      const { QueueUrl } = await sqs.send(
        new GetQueueUrlCommand({ QueueName: policy.deadLetterTargetArn.split(':').at(-1) }),
      );
      return { visibilityMs, maxReceiveCount: Number(policy.maxReceiveCount), deadLetterUrl: QueueUrl };
    };

    const deleteHeld = async (records: readonly HeldRecord[]): Promise<void> => {
      const inFlight = records.filter((record) => record.inFlight);
      await deleteHandles(inFlight.map((record) => record.message.ReceiptHandle ?? ''));
      for (const record of inFlight) record.inFlight = false;
    };

    const moveToDeadLetter = async (dead: readonly HeldRecord[]): Promise<void> => {
      for (const { message, group } of dead) {
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: settings?.deadLetterUrl,
            MessageBody: message.Body,
            MessageGroupId: group,
            MessageDeduplicationId: message.Attributes?.MessageDeduplicationId ?? message.MessageId,
            MessageAttributes: message.MessageAttributes,
          }),
        );
      }
      if (dead.length > 0) onLog(`${name} moved ${dead.length} record(s) to the dead-letter queue`);
    };

    const gather = async (): Promise<void> => {
      let latest = hold.add(await receive(batchSize, hold.hasReady(Date.now()) ? 0 : waitTimeSeconds));
      let gathered = latest.length;
      while (latest.length > 0 && gathered < batchSize) {
        await deleteHeld(latest);
        latest = hold.add(await receive(batchSize - gathered, 0));
        gathered += latest.length;
      }
    };

    // One poller gathers at a time: two receiving at once would split a group's records between them.
    let gate = Promise.resolve();
    const gatherAlone = async (): Promise<ReturnType<FifoHold['take']>> => {
      const turn = gate.then(async () => {
        settings ??= await readSettings();
        await gather();
        const taken = hold.take(batchSize, Date.now());
        // What waits behind a running batch of its group needs no lock on the queue: it is held here.
        await deleteHeld(hold.waiting());
        return taken;
      });
      gate = turn.then(
        () => undefined,
        () => undefined,
      );
      return turn;
    };

    return {
      async pollOnce(): Promise<void> {
        const { records, dead } = await gatherAlone();
        await moveToDeadLetter(dead);
        if (records.length === 0) return;
        const startedAt = Date.now();
        visibility.handOut(records);
        const { failed } = await invokeBatch(records.map((record) => record.message));
        try {
          await deleteHeld(records);
        } finally {
          const timedOut = startedAt + (settings?.visibilityMs ?? 0);
          hold.settle(
            records,
            (record) => failed.has(record.message.MessageId ?? ''),
            (head) => visibility.visibleAt(head) ?? timedOut,
          );
          visibility.settle(records);
        }
      },
      waiting: () => hold.waiting().length,
      stop: () => visibility.stop(),
    };
  }

  const poll = async (): Promise<void> => {
    while (!signal.aborted) {
      try {
        await pollOnce();
      } catch (err: unknown) {
        if (signal.aborted) return;
        onLog(`${name} poll failed: ${err instanceof Error ? err.message : String(err)}`);
        await sleep(RECEIVE_RETRY_MS, undefined, { signal }).catch(() => undefined);
      }
    }
  };

  const pollers = Array.from({ length: maxConcurrency }, () => poll());
  return {
    async stop() {
      controller.abort();
      await Promise.all(pollers);
      fifo?.stop();
      const held = fifo?.waiting() ?? 0;
      // Like fauxqs's own messages, they live in this process; the runtime stops both together.
      if (held > 0) onLog(`${name} stopped holding ${held} record(s) taken off the queue`);
    },
  };
}
