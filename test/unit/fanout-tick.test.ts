/**
 * The room tick in the FIFO consumer (docs/design.md "The room tick"): after a ticked room's batch is
 * delivered, the consumer returns no earlier than the tick after the batch began, so the room's group
 * stays locked and what arrives meanwhile comes as the next batch. The tick rides on the marker the
 * consumer reads anyway (no extra request); a failed run returns at once, and the hold never reaches
 * into the invocation's last RECORD_MARGIN_MS. A fake clock and sleep stand for time.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type FanoutDeps, processFanoutBatch, RECORD_MARGIN_MS } from '../../lambdas/fanout/fanout';
import type { PostFn } from '../../shared/poster';
import type { ChatMessage } from '../../shared/protocol';
import { SHARDS_MARKER } from '../../shared/store/connections';
import { chatMessage as message } from './fakes/chat-message';

const recordOf = (m: ChatMessage): SQSRecord =>
  ({
    messageId: `${m.conversationId}-${m.seq}`,
    body: JSON.stringify(m),
    attributes: { MessageGroupId: m.conversationId, MessageDeduplicationId: `${m.seq}` },
    messageAttributes: {},
  }) as unknown as SQSRecord;

const ddbMock = mockClient(DynamoDBDocumentClient);
const sqsMock = mockClient(SQSClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));

/** Each partition's items as the fan-out's Query reads them (the marker first, as DynamoDB sorts it). */
function givenPartitions(partitions: Record<string, Record<string, unknown>[]>): void {
  ddbMock.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
    Items: partitions[String(input.ExpressionAttributeValues?.[':c'])] ?? [],
  }));
}

const listeners = (...ids: string[]) =>
  ids.map((connectionId) => ({ connectionId, userId: `u-${connectionId}` }));

/** A fake clock that `sleep` moves, and the waits it was asked for. */
function fakeTime(start = 1_000_000) {
  const time = { now: start, sleeps: [] as number[] };
  const sleep = vi.fn(async (ms: number) => {
    time.sleeps.push(ms);
    time.now += ms;
  });
  return { time, sleep };
}

function depsOf(
  time: { now: number },
  sleep: FanoutDeps['sleep'],
  overrides: Partial<FanoutDeps> = {},
): FanoutDeps {
  return {
    ddb,
    sqs: new SQSClient({}),
    tables: { connections: 'connections', subscriptions: 'subscriptions' },
    deadLetterQueueUrl: 'dlq',
    shardQueueUrl: 'shards.fifo',
    post: vi.fn<PostFn>(async () => {
      time.now += 40;
      return { status: 'delivered', attempts: 1 };
    }),
    disconnect: vi.fn(),
    logger: new Logger({ serviceName: 'fanout-tick-test', logLevel: 'SILENT' }),
    metrics: { record: vi.fn() },
    now: () => time.now,
    sleep,
    remainingTimeMs: () => 30_000,
    ...overrides,
  };
}

beforeEach(() => {
  ddbMock.reset();
  sqsMock.reset();
  sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

describe('the room tick in the fan-out', () => {
  it("holds a ticked room's group for the rest of the tick after its batch is posted, reading the tick from the marker in its one Query", async () => {
    // Prepare: a 250 ms tick on an unsharded room's marker; two posts of 40 ms each.
    givenPartitions({ room_a: [{ connectionId: SHARDS_MARKER, tickMs: 250 }, ...listeners('c1', 'c2')] });
    const { time, sleep } = fakeTime();
    const deps = depsOf(time, sleep, { concurrency: 1 });

    // Act
    const response = await processFanoutBatch(deps, {
      Records: [recordOf(message('room_a', 1)), recordOf(message('room_a', 2))],
    });

    // Assess: one coalesced post per connection, then a wait for the 170 ms left of the tick.
    expect(response.batchItemFailures).toEqual([]);
    expect(deps.post).toHaveBeenCalledTimes(2);
    expect(time.sleeps).toEqual([250 - 80]);
    expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(ddbMock).toReceiveCommandWith(QueryCommand, {
      ProjectionExpression: expect.stringContaining('tickMs'),
      ConsistentRead: true,
    });
    expect(ddbMock.calls()).toHaveLength(1);
  });

  it('holds a sharded room after its split, and reads nothing more than the split did', async () => {
    // Prepare: a sharded room (2 shards) with a 500 ms tick; SendMessageBatch takes 30 ms.
    givenPartitions({ room_b: [{ connectionId: SHARDS_MARKER, shards: 2, tickMs: 500 }] });
    const { time, sleep } = fakeTime();
    sqsMock.on(SendMessageBatchCommand).callsFake(() => {
      time.now += 30;
      return { Successful: [], Failed: [] };
    });

    // Act
    const response = await processFanoutBatch(depsOf(time, sleep), {
      Records: [recordOf(message('room_b', 7))],
    });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(sqsMock).toHaveReceivedCommandTimes(SendMessageBatchCommand, 1);
    expect(ddbMock.calls()).toHaveLength(1);
    expect(time.sleeps).toEqual([470]);
  });

  it('does not wait when the batch took the whole tick already', async () => {
    // Prepare: 10 connections at 40 ms each, one at a time: 400 ms, past a 250 ms tick.
    const ids = Array.from({ length: 10 }, (_, n) => `c${n}`);
    givenPartitions({ room_c: [{ connectionId: SHARDS_MARKER, tickMs: 250 }, ...listeners(...ids)] });
    const { time, sleep } = fakeTime();

    // Act
    await processFanoutBatch(depsOf(time, sleep, { concurrency: 1 }), {
      Records: [recordOf(message('room_c', 1))],
    });

    // Assess
    expect(sleep).not.toHaveBeenCalled();
  });

  it('does not wait for a conversation without a tick, nor for a marker without one', async () => {
    // Prepare
    givenPartitions({
      group: listeners('c1'),
      room_d: [{ connectionId: SHARDS_MARKER, shards: 2 }],
    });
    const { time, sleep } = fakeTime();

    // Act
    const response = await processFanoutBatch(depsOf(time, sleep), {
      Records: [recordOf(message('group', 1)), recordOf(message('room_d', 1))],
    });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('returns a failed run at once, so its retry waits for no tick', async () => {
    // Prepare: every post is throttled, so the run fails and goes back to SQS.
    givenPartitions({ room_e: [{ connectionId: SHARDS_MARKER, tickMs: 2_000 }, ...listeners('c1')] });
    const { time, sleep } = fakeTime();
    const post = vi.fn<PostFn>(async () => ({
      status: 'failed',
      attempts: 4,
      retryable: true,
      throttled: true,
      error: new Error('throttled'),
    }));

    // Act
    const response = await processFanoutBatch(depsOf(time, sleep, { post }), {
      Records: [recordOf(message('room_e', 1)), recordOf(message('room_e', 2))],
    });

    // Assess
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: 'room_e-1' },
      { itemIdentifier: 'room_e-2' },
    ]);
    expect(sleep).not.toHaveBeenCalled();
  });

  it("never holds into the invocation's last RECORD_MARGIN_MS", async () => {
    // Prepare: a sharded room with a 2 s tick (its split posts nothing, so it may start this late), and
    // 1.3 s left of the invocation; the split takes 30 ms.
    givenPartitions({ room_f: [{ connectionId: SHARDS_MARKER, shards: 2, tickMs: 2_000 }] });
    const { time, sleep } = fakeTime();
    sqsMock.on(SendMessageBatchCommand).callsFake(() => {
      time.now += 30;
      return { Successful: [], Failed: [] };
    });
    const endsAt = time.now + 1_300;
    const deps = depsOf(time, sleep, { remainingTimeMs: () => endsAt - time.now, recordBudgetMs: 0 });

    // Act
    const response = await processFanoutBatch(deps, { Records: [recordOf(message('room_f', 1))] });

    // Assess: the hold stops RECORD_MARGIN_MS before the end.
    expect(response.batchItemFailures).toEqual([]);
    expect(time.sleeps).toEqual([1_300 - 30 - RECORD_MARGIN_MS]);
  });

  it('holds each ticked group of a batch on its own clock, side by side', async () => {
    // Prepare: two ticked rooms and a plain group in one batch.
    givenPartitions({
      room_g: [{ connectionId: SHARDS_MARKER, tickMs: 300 }, ...listeners('g1')],
      room_h: [{ connectionId: SHARDS_MARKER, tickMs: 600 }, ...listeners('h1')],
      plain: listeners('p1'),
    });
    const time = { now: 0 };
    const sleeps: number[] = [];
    const sleep = async (ms: number) => {
      sleeps.push(ms);
    };
    const post = vi.fn<PostFn>(async () => ({ status: 'delivered', attempts: 1 }));

    // Act
    await processFanoutBatch(depsOf(time, sleep, { post }), {
      Records: [
        recordOf(message('room_g', 1)),
        recordOf(message('plain', 1)),
        recordOf(message('room_h', 1)),
      ],
    });

    // Assess
    expect(sleeps.sort((a, b) => a - b)).toEqual([300, 600]);
  });
});
