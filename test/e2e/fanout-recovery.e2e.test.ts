/**
 * A fan-out that recovers in seconds (issue 18): DynamoDB Local frozen for longer than the fan-out's
 * timeout (SIGSTOP), while records of a conversation wait on the fan-out queue. The fan-out's calls give
 * up on their deadlines (4 attempts of 3 s, before the stop 2 s ahead of the timeout would), the records are
 * reported failed, their visibility is shortened (1, 2, 4, 8 s), and the conversation is
 * delivering again within seconds of the thaw, not after the queue's 180 s visibility timeout. The
 * fan-out runs with an 18 s timeout here (the deployed one is 30 s) to keep the file short.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../lib/wiring';
import { DEFAULT_WIRING } from '../../local/runtime';
import type { ChatMessage } from '../../shared/protocol';
import { enqueue } from '../../shared/store/fanout-queue';
import { javaOnPort } from '../support/java-on-port';
import { useLocalRuntime } from '../support/local-runtime';
import { connectAs, createConversation, letAnyoneAdd, sendMessage } from './helpers';

/** The shortest that still starts a record: one needs DEFAULT_RECORD_BUDGET_MS (15 s) left. */
const FANOUT_TIMEOUT_SECONDS = 18;
/** Longer than the fan-out's timeout: the invocation that met the freeze must give up, not wait it out. */
const FREEZE_MS = 20_000;

const { runtime, track } = useLocalRuntime({
  ownDynamoDb: true,
  wiring: {
    ...DEFAULT_WIRING,
    functions: { ...FUNCTIONS, fanout: { ...FUNCTIONS.fanout, timeoutSeconds: FANOUT_TIMEOUT_SECONDS } },
  },
});

let frozen: number[] = [];
const thaw = () => {
  for (const pid of frozen.splice(0)) process.kill(pid, 'SIGCONT');
};
// Whatever happens, DynamoDB Local is never left stopped (the runtime could not stop it).
afterAll(thaw);

describe('a DynamoDB outage longer than the fan-out timeout', () => {
  it('leaves the conversation undelivered for seconds after DynamoDB returns, not minutes', async () => {
    // Prepare: bob listens to a conversation that already delivered one message
    await letAnyoneAdd(runtime(), ['bob']);
    const alice = await track(connectAs(runtime(), 'alice'));
    const bob = await track(connectAs(runtime(), 'bob'));
    const conversationId = await createConversation(alice, ['bob']);
    expect((await bob.request({ action: 'subscribe', conversationId })).type).toBe('ack');
    expect((await sendMessage(alice, conversationId, 'm1', 'before')).type).toBe('ack');
    await expect.poll(() => bob.seqs(conversationId), { timeout: 15_000 }).toEqual([1]);
    const port = Number(new URL(runtime().endpoints.dynamodb).port);
    const java = javaOnPort(port);
    expect(java).toHaveLength(1);

    let thawedAt = 0;
    try {
      // Act: DynamoDB freezes, and two records of the conversation reach the fan-out queue meanwhile
      // (stored before the freeze, as far as the fan-out can tell: it reads only subscriptions).
      frozen = java;
      for (const pid of java) process.kill(pid, 'SIGSTOP');
      const sentAt = new Date().toISOString();
      for (const seq of [2, 3]) {
        const record: ChatMessage = { conversationId, seq, senderId: 'alice', body: `during ${seq}`, sentAt };
        await enqueue(runtime().clients.sqs, runtime().queues.fanout.url, record);
      }
      // The outage itself: a span of time, not a wait for something to happen.
      await sleep(FREEZE_MS);
    } finally {
      thaw();
      thawedAt = Date.now();
    }

    // Assess: bob has both within ~10 s of the thaw
    await expect.poll(() => bob.seqs(conversationId), { timeout: 10_000, interval: 100 }).toEqual([1, 2, 3]);
    expect(Date.now() - thawedAt).toBeLessThan(10_000);
  });
});
