/**
 * The SQS → Lambda event source mapping, as AWS runs it: long-polling pollers receive up to `batchSize`
 * messages, invoke the function with an SQSEvent shaped like Lambda's, and delete the records that did
 * not fail. Failed records are left alone, so they reappear after the queue's visibility timeout and the
 * queue's redrive policy moves them to the dead-letter queue after maxReceiveCount receives.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type {
  SQSEvent,
  SQSMessageAttribute,
  SQSMessageAttributes,
  SQSRecord,
  SQSRecordAttributes,
} from 'aws-lambda';
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
 * record not reported in `batchItemFailures`; a thrown error or an invalid response deletes nothing.
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

  const deleteRecords = async (records: SQSRecord[]): Promise<void> => {
    if (records.length === 0) return;
    const { Failed } = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: records.map((record, i) => ({ Id: String(i), ReceiptHandle: record.receiptHandle })),
      }),
    );
    for (const failure of Failed ?? []) {
      onLog(`${name} could not delete a record: ${failure.Code ?? ''} ${failure.Message ?? ''}`.trim());
    }
  };

  const runBatch = async (messages: Message[]): Promise<void> => {
    const event = toSqsEvent(messages, queueArn);
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
      return;
    }
    const failed = reportBatchItemFailures
      ? failedMessageIds(response, new Set(event.Records.map((record) => record.messageId)))
      : new Set<string>();
    if (failed === undefined) {
      onLog(`${head} invalid batch response, all ${count} kept ${took()}`);
      return;
    }
    await deleteRecords(event.Records.filter((record) => !failed.has(record.messageId)));
    if (logInvocations) onLog(`${head} ${failed.size === 0 ? 'ok' : `${failed.size} failed`} ${took()}`);
  };

  const poll = async (): Promise<void> => {
    while (!signal.aborted) {
      let messages: Message[];
      try {
        const output = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: batchSize,
            WaitTimeSeconds: waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: signal },
        );
        messages = output.Messages ?? [];
      } catch (err: unknown) {
        if (signal.aborted) return;
        onLog(`${name} receive failed: ${err instanceof Error ? err.message : String(err)}`);
        await sleep(RECEIVE_RETRY_MS, undefined, { signal }).catch(() => undefined);
        continue;
      }
      // A batch runs to completion even when stop() is called meanwhile: its records must be deleted.
      if (messages.length > 0) {
        try {
          await runBatch(messages);
        } catch (err: unknown) {
          onLog(`${name} batch failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
  };

  const pollers = Array.from({ length: maxConcurrency }, () => poll());
  return {
    async stop() {
      controller.abort();
      await Promise.all(pollers);
    },
  };
}
