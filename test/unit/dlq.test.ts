import { Logger } from '@aws-lambda-powertools/logger';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  type ReceiveMessageCommandInput,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  InvalidRedriveInputError,
  parseRedriveInput,
  type RedriveDeps,
  type RedriveInput,
  redrive,
  redriveDeduplicationId,
} from '../../lambdas/dlq/redrive';
import type { MetricSink } from '../../shared/metrics';

const sqs = mockClient(SQSClient);

const DLQ_URL = 'https://sqs.local/000000000000/fanout-dlq.fifo';
const FANOUT_URL = 'https://sqs.local/000000000000/fanout.fifo';

interface LetterSpec {
  id: string;
  group?: string;
  dedupId?: string;
  body?: string;
  redriveCount?: number;
  poison?: boolean;
}

function letter(spec: LetterSpec): Message {
  const attributes: NonNullable<Message['MessageAttributes']> = {};
  if (spec.redriveCount !== undefined) {
    attributes.redriveCount = { DataType: 'Number', StringValue: String(spec.redriveCount) };
  }
  if (spec.poison) attributes.poison = { DataType: 'String', StringValue: 'body is not valid JSON' };
  return {
    MessageId: spec.id,
    ReceiptHandle: `rh-${spec.id}`,
    Body: spec.body ?? `{"seq":"${spec.id}"}`,
    Attributes: {
      MessageGroupId: spec.group ?? 'conv-a',
      MessageDeduplicationId: spec.dedupId ?? `conv-a:${spec.id}`,
    },
    MessageAttributes: attributes,
  };
}

/** A dead-letter queue that hands out the given letters once, honouring MaxNumberOfMessages. */
function givenDeadLetters(letters: Message[]): void {
  const pending = [...letters];
  sqs.on(ReceiveMessageCommand).callsFake((input: ReceiveMessageCommandInput) => ({
    Messages: pending.splice(0, input.MaxNumberOfMessages ?? 1),
  }));
}

/** Every send and delete, in order, named by the command and its group or receipt handle. */
function writeSequence(): string[] {
  return sqs.calls().flatMap((call) => {
    const command = call.args[0];
    if (command instanceof SendMessageCommand) return [`SendMessageCommand ${command.input.MessageGroupId}`];
    if (command instanceof DeleteMessageCommand)
      return [`DeleteMessageCommand ${command.input.ReceiptHandle}`];
    return [];
  });
}

const input = (overrides: Partial<RedriveInput> = {}): RedriveInput => ({
  maxMessages: 100,
  dryRun: false,
  includePoison: false,
  ...overrides,
});

function makeDeps(metrics: MetricSink = { record: vi.fn() }): RedriveDeps {
  return {
    sqs: new SQSClient({}),
    deadLetterQueueUrl: DLQ_URL,
    fanoutQueueUrl: FANOUT_URL,
    logger: new Logger({ serviceName: 'chat-dlq-test', logLevel: 'SILENT' }),
    metrics,
  };
}

beforeEach(() => {
  sqs.reset();
  sqs.on(SendMessageCommand).resolves({ MessageId: 'new' });
  sqs.on(DeleteMessageCommand).resolves({});
  sqs.on(ChangeMessageVisibilityCommand).resolves({});
});

describe('redrive', () => {
  it('asks the DLQ for group and deduplication ids and all message attributes', async () => {
    // Prepare
    givenDeadLetters([]);

    // Act
    await redrive(makeDeps(), input());

    // Assess
    expect(sqs).toReceiveCommandWith(ReceiveMessageCommand, {
      QueueUrl: DLQ_URL,
      MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'],
      MessageAttributeNames: ['All'],
    });
  });

  it('G6: sends each letter back to the fan-out queue with its group and body, then deletes it', async () => {
    // Prepare
    givenDeadLetters([
      letter({ id: 'm1', group: 'conv-a', dedupId: 'conv-a:1', body: '{"a":1}' }),
      letter({ id: 'm2', group: 'conv-b', dedupId: 'conv-b:9', body: '{"b":9}' }),
    ]);

    // Act
    const summary = await redrive(makeDeps(), input());

    // Assess
    expect(summary).toEqual({ moved: 2, skipped: 0, dryRun: false, wouldMove: 0 });
    expect(sqs).toReceiveCommandWith(SendMessageCommand, {
      QueueUrl: FANOUT_URL,
      MessageGroupId: 'conv-a',
      MessageBody: '{"a":1}',
      MessageDeduplicationId: 'conv-a:1:r1',
      MessageAttributes: { redriveCount: { DataType: 'Number', StringValue: '1' } },
    });
    expect(sqs).toReceiveCommandWith(SendMessageCommand, {
      MessageGroupId: 'conv-b',
      MessageBody: '{"b":9}',
      MessageDeduplicationId: 'conv-b:9:r1',
    });
    expect(writeSequence()).toEqual([
      'SendMessageCommand conv-a',
      'DeleteMessageCommand rh-m1',
      'SendMessageCommand conv-b',
      'DeleteMessageCommand rh-m2',
    ]);
  });

  it('gives a letter that was redriven before a fresh deduplication id and the next redrive count', async () => {
    // Prepare
    givenDeadLetters([letter({ id: 'm1', dedupId: 'conv-a:1', redriveCount: 2 })]);

    // Act
    await redrive(makeDeps(), input());

    // Assess
    expect(sqs).toReceiveCommandWith(SendMessageCommand, {
      MessageDeduplicationId: 'conv-a:1:r3',
      MessageAttributes: { redriveCount: { DataType: 'Number', StringValue: '3' } },
    });
  });

  it('is safe to run twice: a rerun after a failed delete resends with the same deduplication id', async () => {
    // Prepare
    const dead = letter({ id: 'm1', dedupId: 'conv-a:1' });
    givenDeadLetters([dead]);
    sqs.on(DeleteMessageCommand).rejectsOnce(new Error('crash before delete')).resolves({});
    await expect(redrive(makeDeps(), input())).rejects.toThrow('crash before delete');
    givenDeadLetters([dead]);

    // Act
    await redrive(makeDeps(), input());

    // Assess
    const dedupIds = sqs
      .commandCalls(SendMessageCommand)
      .map((call) => call.args[0].input.MessageDeduplicationId);
    expect(dedupIds).toEqual(['conv-a:1:r1', 'conv-a:1:r1']);
  });

  it('does not delete a letter whose send failed, and makes it visible again', async () => {
    // Prepare
    givenDeadLetters([letter({ id: 'm1' }), letter({ id: 'm2' })]);
    sqs.on(SendMessageCommand).rejects(new Error('fan-out queue unavailable'));

    // Act
    const outcome = redrive(makeDeps(), input());

    // Assess
    await expect(outcome).rejects.toThrow('fan-out queue unavailable');
    expect(sqs).not.toReceiveCommand(DeleteMessageCommand);
    expect(sqs).toReceiveCommandTimes(SendMessageCommand, 1);
    for (const receiptHandle of ['rh-m1', 'rh-m2']) {
      expect(sqs).toReceiveCommandWith(ChangeMessageVisibilityCommand, {
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: 0,
      });
    }
  });

  it('moves nothing in a dry run and makes every letter visible again', async () => {
    // Prepare
    givenDeadLetters([letter({ id: 'm1' }), letter({ id: 'm2' })]);

    // Act
    const summary = await redrive(makeDeps(), input({ dryRun: true }));

    // Assess
    expect(summary).toEqual({ moved: 0, skipped: 0, dryRun: true, wouldMove: 2 });
    expect(sqs).not.toReceiveCommand(SendMessageCommand);
    expect(sqs).not.toReceiveCommand(DeleteMessageCommand);
    expect(sqs).toReceiveCommandWith(ChangeMessageVisibilityCommand, {
      ReceiptHandle: 'rh-m1',
      VisibilityTimeout: 0,
    });
    expect(sqs).toReceiveCommandWith(ChangeMessageVisibilityCommand, {
      ReceiptHandle: 'rh-m2',
      VisibilityTimeout: 0,
    });
  });

  it('stops at maxMessages, receiving at most 10 letters per call', async () => {
    // Prepare
    givenDeadLetters(Array.from({ length: 40 }, (_, i) => letter({ id: `m${i}`, group: `conv-${i}` })));

    // Act
    const summary = await redrive(makeDeps(), input({ maxMessages: 25 }));

    // Assess
    expect(summary.moved).toBe(25);
    expect(sqs).toReceiveCommandTimes(SendMessageCommand, 25);
    const asked = sqs
      .commandCalls(ReceiveMessageCommand)
      .map((call) => call.args[0].input.MaxNumberOfMessages);
    expect(asked).toEqual([10, 10, 5]);
  });

  it('leaves poison letters in the DLQ unless includePoison is set', async () => {
    // Prepare
    givenDeadLetters([letter({ id: 'bad', poison: true }), letter({ id: 'good' })]);

    // Act
    const summary = await redrive(makeDeps(), input());

    // Assess
    expect(summary).toEqual({ moved: 1, skipped: 1, dryRun: false, wouldMove: 0 });
    expect(sqs).toReceiveCommandExactlyOnceWith(SendMessageCommand, {
      MessageDeduplicationId: 'conv-a:good:r1',
    });
    expect(sqs).not.toReceiveCommandWith(DeleteMessageCommand, { ReceiptHandle: 'rh-bad' });
    expect(sqs).toReceiveCommandWith(ChangeMessageVisibilityCommand, {
      ReceiptHandle: 'rh-bad',
      VisibilityTimeout: 0,
    });
  });

  it('moves poison letters too when includePoison is set', async () => {
    // Prepare
    givenDeadLetters([letter({ id: 'bad', poison: true }), letter({ id: 'good' })]);

    // Act
    const summary = await redrive(makeDeps(), input({ includePoison: true }));

    // Assess
    expect(summary).toEqual({ moved: 2, skipped: 0, dryRun: false, wouldMove: 0 });
    expect(sqs).toReceiveCommandWith(DeleteMessageCommand, { ReceiptHandle: 'rh-bad' });
  });
});

describe('redrive metrics', () => {
  it('counts each letter put back on the fan-out queue as Redriven', async () => {
    // Prepare
    givenDeadLetters([letter({ id: 'm1' }), letter({ id: 'm2', group: 'conv-b' })]);
    const metrics = { record: vi.fn() };

    // Act
    await redrive(makeDeps(metrics), input());

    // Assess
    expect(metrics.record.mock.calls).toEqual([['redriven'], ['redriven']]);
  });

  it.each([
    ['a dry run', letter({ id: 'm1' }), input({ dryRun: true }), false],
    ['a poison letter', letter({ id: 'bad', poison: true }), input(), false],
    ['a letter whose send failed', letter({ id: 'm1' }), input(), true],
  ])(
    'counts nothing for a letter left in the dead-letter queue: %s',
    async (_case, dead, options, failSend) => {
      // Prepare
      givenDeadLetters([dead]);
      if (failSend) sqs.on(SendMessageCommand).rejects(new Error('fan-out queue unavailable'));
      const metrics = { record: vi.fn() };

      // Act
      await redrive(makeDeps(metrics), options).catch(() => undefined);

      // Assess
      expect(metrics.record).not.toHaveBeenCalled();
    },
  );
});

describe('redriveDeduplicationId', () => {
  it('hashes a long original id so the result fits the 128-character SQS limit and stays distinct per redrive', () => {
    // Prepare
    const original = 'x'.repeat(128);

    // Act
    const first = redriveDeduplicationId(original, 1);
    const again = redriveDeduplicationId(original, 1);
    const second = redriveDeduplicationId(original, 2);

    // Assess
    expect(first.length).toBeLessThanOrEqual(128);
    expect(second.length).toBeLessThanOrEqual(128);
    expect(again).toBe(first);
    expect(second).not.toBe(first);
  });
});

describe('redrive input', () => {
  it('defaults to 100 letters, a real run and no poison', () => {
    // Act / Assess
    expect(parseRedriveInput(undefined)).toEqual({ maxMessages: 100, dryRun: false, includePoison: false });
  });

  it.each([
    ['a zero maxMessages', { maxMessages: 0 }],
    ['a string maxMessages', { maxMessages: '5' }],
    ['a misspelt dryRun', { dryrun: true }],
    ['a non-object payload', 'redrive please'],
  ])('rejects %s with a clear error', (_case, payload) => {
    // Act / Assess
    expect(() => parseRedriveInput(payload)).toThrow(InvalidRedriveInputError);
  });

  describe('through the handler', () => {
    beforeEach(() => {
      vi.stubEnv('DEAD_LETTER_QUEUE_URL', DLQ_URL);
      vi.stubEnv('FANOUT_QUEUE_URL', FANOUT_URL);
    });
    afterEach(() => {
      vi.unstubAllEnvs();
    });

    it('moves nothing when the input is invalid', async () => {
      // Prepare
      givenDeadLetters([letter({ id: 'm1' })]);
      const { handler } = await import('../../lambdas/dlq/handler.js');

      // Act
      const outcome = handler({ dryRun: 'no' }, {} as Context);

      // Assess
      await expect(outcome).rejects.toThrow(/Invalid redrive input: dryRun/);
      expect(sqs).not.toReceiveAnyCommand();
    });
  });
});
