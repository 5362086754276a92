/**
 * G9: a burst of senders into one conversation is absorbed. The benchmark runs the full 100 × 10 burst
 * (`npm run bench`); this test runs a smaller one and holds it to the same promises.
 */
import { describe, expect, it } from 'vitest';
import { runBurst, runSequential } from '../../bench/burst';
import { useLocalRuntime } from '../support/local-runtime';
import { range } from './chat-client';

const timeouts: string[] = [];
const { runtime } = useLocalRuntime({
  onLog: (line) => {
    if (line.includes('timed out')) timeouts.push(line);
  },
});

describe('a burst of senders into one conversation', () => {
  it('acks every message once, stores seqs 1..N with no tombstone, delivers all, with no timeout and no anonymous reply', async () => {
    // Prepare: the uncontended cost of a send, measured on the same runtime.
    const solo = await runSequential(runtime(), { messages: 20, tag: 'burst-solo' });

    // Act: 30 users send 10 messages each at once, resending unanswered sends after 5 s.
    const burst = await runBurst(runtime(), {
      users: 30,
      messagesPerUser: 10,
      resendAfterMs: 5_000,
      tag: 'burst',
    });

    // Assess
    expect(burst.storedSeqs).toEqual(range(300));
    expect(burst.tombstones).toBe(0);
    expect(burst.completeSubscribers).toBe(30);
    expect(burst.repliesWithoutRequestId).toBe(0);
    expect(timeouts).toEqual([]);
    // Resends and busy answers never add work: the burst costs per message what one sender costs.
    expect(burst.sendCallsPerMessage).toBeLessThanOrEqual(solo.sendCallsPerMessage * 1.1);
  }, 300_000);
});
