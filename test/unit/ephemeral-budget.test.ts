/**
 * The time budget of best-effort posts (shared/ephemeral.ts): posts past it are dropped, counted, and
 * logged as a warning; the fan-out's `activity` frames (lambdas/fanout/offline.ts) keep to it too.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import { notifyBeyondSubscribers } from '../../lambdas/fanout/offline';
import { logEphemeral, postEphemeralTo } from '../../shared/ephemeral';
import type { PostFn } from '../../shared/poster';

const ddbMock = mockClient(DynamoDBDocumentClient);

/** A post that takes `ms` of the fake clock. */
function slowPost(clock: { now: number }, ms: number) {
  return vi.fn<PostFn>(async () => {
    clock.now += ms;
    return { status: 'delivered', attempts: 1 };
  });
}

describe('best-effort posts within a time budget', () => {
  it('starts no post after the budget, counts the rest as skipped and tells which connections it reached', async () => {
    // Prepare: each post takes 400 ms, one at a time, within a 1 s budget.
    const clock = { now: 0 };
    const post = slowPost(clock, 400);

    // Act
    const { report, reached } = await postEphemeralTo(post, ['a', 'b', 'c', 'd', 'e'], '{}', {
      concurrency: 1,
      budgetMs: 1_000,
      now: () => clock.now,
    });

    // Assess
    expect(report).toEqual({ targets: 5, delivered: 3, gone: 0, failed: 0, skipped: 2 });
    expect([...reached]).toEqual(['a', 'b', 'c']);
    expect(post).toHaveBeenCalledTimes(3);
  });

  it('logs dropped posts as a warning with their count, and a full delivery at debug level', () => {
    // Prepare
    const logger = { debug: vi.fn(), warn: vi.fn() };

    // Act
    logEphemeral(logger, 'Typing posted', { targets: 5, delivered: 3, gone: 0, failed: 0, skipped: 2 });
    logEphemeral(logger, 'Typing posted', { targets: 1, delivered: 1, gone: 0, failed: 0, skipped: 0 });

    // Assess
    expect(logger.warn).toHaveBeenCalledWith(
      'Typing posted: time budget spent, posts dropped',
      expect.objectContaining({ skipped: 2 }),
    );
    expect(logger.debug).toHaveBeenCalledTimes(1);
  });

  it("keeps the fan-out's activity frames to their budget, so a member's many sockets cannot hold the record", async () => {
    // Prepare: bob has 20 unsubscribed connections; each post takes 1 s; the budget is 3 s.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const clock = { now: 0 };
      vi.setSystemTime(0);
      const post = vi.fn<PostFn>(async () => {
        clock.now += 1_000;
        vi.setSystemTime(clock.now);
        return { status: 'delivered', attempts: 1 };
      });
      ddbMock.reset();
      ddbMock
        .on(QueryCommand)
        .callsFake((input: QueryCommandInput) =>
          input.IndexName === 'byUser'
            ? { Items: Array.from({ length: 20 }, (_, n) => ({ connectionId: `bob-${n}` })) }
            : { Items: [{ memberId: 'alice' }, { memberId: 'bob' }] },
        );
      const logger = { warn: vi.fn(), debug: vi.fn() };

      // Act
      const report = await notifyBeyondSubscribers(
        {
          ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})),
          tables: { conversations: 'conversations', connections: 'connections' },
          post,
          logger,
          concurrency: 1,
          activityBudgetMs: 3_000,
        },
        { conversationId: 'c', seq: 1, senderId: 'alice', body: 'hi', sentAt: '2030-01-01T00:00:00.000Z' },
        { subscribedConnections: new Set(), reachedUsers: new Set() },
      );

      // Assess: alice's lookup found the same 20 sockets (the fake index answers every user alike).
      expect(post.mock.calls.length).toBe(3);
      expect(report.activity).toBe(2);
      expect(logger.warn).toHaveBeenCalledWith(
        'Activity posted: time budget spent, posts dropped',
        expect.objectContaining({ skipped: 17 }),
      );
    } finally {
      vi.useRealTimers();
    }
  });
});
