/**
 * The FIFO event source's stand-in for ChangeMessageVisibility (local/fifo-visibility.ts): it answers
 * for the records its poller handed out, on its own queue only, and leaves everything else, and
 * everything after stop(), to the service.
 */
import { ChangeMessageVisibilityBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import type { HeldRecord } from '../../local/fifo-hold';
import { answerVisibilityChanges } from '../../local/fifo-visibility';
import { interceptAwsCalls } from '../../shared/invocation';
import { guarded, UNREACHABLE_AWS } from '../support/fakes';

const QUEUE_URL = 'http://127.0.0.1:1/000000000000/local-fanout.fifo';

const held = (handle: string): HeldRecord => ({
  message: { MessageId: handle, ReceiptHandle: handle, Body: '{}' },
  group: 'g',
  receives: 1,
  inFlight: false,
});

/** A guarded client, as a function's own; what passes the stand-in is answered `passedOn`. */
function functionSqs(): SQSClient {
  return guarded(new SQSClient(UNREACHABLE_AWS));
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const change = (queueUrl: string, handles: string[]) =>
  new ChangeMessageVisibilityBatchCommand({
    QueueUrl: queueUrl,
    Entries: handles.map((handle, index) => ({
      Id: String(index),
      ReceiptHandle: handle,
      VisibilityTimeout: 2,
    })),
  });

describe('the event source answering visibility changes', () => {
  it('answers for the records it handed out, refuses unknown handles, and passes other queues on', async () => {
    // Prepare
    cleanups.push(interceptAwsCalls(async () => ({ passedOn: true, $metadata: {} })));
    const visibility = answerVisibilityChanges(QUEUE_URL);
    cleanups.push(() => visibility.stop());
    const record = held('h1');
    visibility.handOut([record]);
    const sqs = functionSqs();
    const before = Date.now();

    // Act
    const answered = await sqs.send(change(QUEUE_URL, ['h1', 'unknown']));
    const elsewhere = await sqs.send(change(`${QUEUE_URL}-other`, ['h1']));

    // Assess
    expect(answered.Successful).toEqual([{ Id: '0' }]);
    expect(answered.Failed).toEqual([expect.objectContaining({ Id: '1', Code: 'ReceiptHandleIsInvalid' })]);
    expect(visibility.visibleAt(record)).toBeGreaterThanOrEqual(before + 2_000);
    expect(elsewhere).toMatchObject({ passedOn: true });
  });

  it('forgets a settled batch, and answers nothing once stopped', async () => {
    // Prepare
    cleanups.push(interceptAwsCalls(async () => ({ passedOn: true, $metadata: {} })));
    const visibility = answerVisibilityChanges(QUEUE_URL);
    const [first, second] = [held('h1'), held('h2')];
    visibility.handOut([first, second]);
    const sqs = functionSqs();
    await sqs.send(change(QUEUE_URL, ['h1']));

    // Act
    visibility.settle([first]);
    const afterSettle = await sqs.send(change(QUEUE_URL, ['h1']));
    visibility.stop();
    const afterStop = await sqs.send(change(QUEUE_URL, ['h2']));

    // Assess
    expect(visibility.visibleAt(first)).toBeUndefined();
    expect(afterSettle.Failed).toEqual([expect.objectContaining({ Code: 'ReceiptHandleIsInvalid' })]);
    expect(afterStop).toMatchObject({ passedOn: true });
  });
});
