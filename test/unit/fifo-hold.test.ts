import type { Message } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { FifoHold, type HeldRecord } from '../../local/fifo-hold';

const message = (group: string, body: string, receives = 1): Message => ({
  MessageId: `${group}-${body}`,
  Body: body,
  Attributes: { MessageGroupId: group, ApproximateReceiveCount: String(receives) },
});
const bodies = (records: HeldRecord[]): string[] => records.map((record) => record.message.Body ?? '');

describe('FifoHold', () => {
  it('hands out a group in the order received, and not again while its batch runs', () => {
    // Prepare
    const hold = new FifoHold(() => 5);
    hold.add([message('g', '1'), message('h', '1')]);
    hold.add([message('g', '2')]);

    // Act
    const first = hold.take(10, 0);
    hold.add([message('g', '3')]);
    const whileRunning = hold.take(10, 0);

    // Assess
    expect(bodies(first.records)).toEqual(['1', '2', '1']);
    expect(whileRunning.records).toEqual([]);
  });

  it('puts failed records back at the head of their group, hidden until their visibility timeout, one receive more', () => {
    // Prepare
    const hold = new FifoHold(() => 5);
    hold.add(['1', '2', '3'].map((body) => message('g', body)));
    const { records } = hold.take(10, 0);
    hold.add([message('g', '4')]);

    // Act
    hold.settle(
      records,
      (record) => record.message.Body !== '1',
      () => 1_000,
    );

    // Assess
    expect(hold.hasReady(999)).toBe(false);
    const retry = hold.take(10, 1_000);
    expect(bodies(retry.records)).toEqual(['2', '3', '4']);
    expect(retry.records.map((record) => record.message.Attributes?.ApproximateReceiveCount)).toEqual([
      '2',
      '2',
      '1',
    ]);
  });

  it('sends a record past maxReceiveCount to the dead-letter list, and its group carries on', () => {
    // Prepare
    const hold = new FifoHold(() => 1);
    hold.add([message('g', 'doomed')]);
    const { records } = hold.take(10, 0);
    hold.settle(
      records,
      () => true,
      () => 0,
    );

    // Act
    const afterFailure = hold.take(10, 0);
    hold.add([message('g', 'next')]);
    const next = hold.take(10, 0);

    // Assess
    expect(afterFailure.records).toEqual([]);
    expect(bodies(afterFailure.dead)).toEqual(['doomed']);
    expect(bodies(next.records)).toEqual(['next']);
  });

  it('takes no more than the batch size, leaving the rest of the group ready for the next batch', () => {
    // Prepare
    const hold = new FifoHold(() => 5);
    hold.add(['1', '2', '3'].map((body) => message('g', body)));

    // Act
    const first = hold.take(2, 0);
    hold.settle(
      first.records,
      () => false,
      () => 0,
    );
    const second = hold.take(2, 0);

    // Assess
    expect(bodies(first.records)).toEqual(['1', '2']);
    expect(bodies(second.records)).toEqual(['3']);
    expect(hold.waiting()).toEqual([]);
  });
});
