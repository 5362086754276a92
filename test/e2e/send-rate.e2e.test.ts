/**
 * The per-user, per-conversation send rate (shared/store/conversations/send-bucket.ts) on DynamoDB Local: its two
 * conditional updates must split the bucket's states exactly, which only a real condition evaluator shows.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { SEND_INTERVAL_MS } from '../../shared/store/conversations';
import { useLocalRuntime } from '../support/local-runtime';
import { type ChatClient, type Frame, range } from './chat-client';
import { connectAs, createConversation, letAnyoneAdd } from './helpers';

const { runtime, track } = useLocalRuntime();
// Not a test of consent: the users these tests add to groups let anyone add them.
beforeAll(() => letAnyoneAdd(runtime(), ['rate-bob', 'rate-reader', 'rate-dave']));

/** Sends once, resending only what the admission gate answered `busy`: the answer is an ack or a refusal. */
async function sendPastBusy(client: ChatClient, frame: Record<string, unknown>): Promise<Frame> {
  for (;;) {
    const reply = await client.request({ action: 'send', ...frame });
    if (reply.code !== 'busy') return reply;
    await sleep(typeof reply.retryAfterMs === 'number' ? reply.retryAfterMs : 250);
  }
}

/** Sends waves of 20 at once until some are refused: the bucket is then empty. */
async function emptyBucket(
  client: ChatClient,
  conversationId: string,
  tag: string,
): Promise<{ acked: number; refusals: Frame[]; lastWaveAt: number }> {
  let acked = 0;
  for (let wave = 0; wave < 50; wave++) {
    const lastWaveAt = performance.now();
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        sendPastBusy(client, { conversationId, clientMessageId: `${tag}-${wave}-${n}`, body: `${tag}${n}` }),
      ),
    );
    const refusals = replies.filter((reply) => reply.code === 'rate_limited');
    expect(replies.length - refusals.length).toBe(replies.filter((reply) => reply.type === 'ack').length);
    acked += replies.length - refusals.length;
    if (refusals.length > 0) return { acked, refusals, lastWaveAt };
  }
  throw new Error(`${tag} was never refused`);
}

async function storedSeqs(client: ChatClient, conversationId: string): Promise<number[]> {
  const stored: number[] = [];
  for (let beforeSeq: number | undefined; ; ) {
    const page = await client.request({
      action: 'history',
      conversationId,
      limit: LIMITS.maxPageSize,
      beforeSeq,
    });
    const seqs = (page.messages as Frame[]).map((message) => Number(message.seq));
    stored.push(...seqs);
    if (page.hasMore !== true) return stored.sort((a, b) => a - b);
    beforeSeq = Math.min(...seqs);
  }
}

describe('the per-user send rate through the local runtime', () => {
  it('admits a burst, then refuses with rate_limited and retryAfterMs, storing nothing for a refusal', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'rate-alice'));
    const conversationId = await createConversation(alice, ['rate-bob']);
    const { acked, refusals, lastWaveAt } = await emptyBucket(alice, conversationId, 'seq');

    // Act: 20 more at once into the empty bucket.
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        sendPastBusy(alice, { conversationId, clientMessageId: `more-${n}`, body: `more ${n}` }),
      ),
    );
    // Tokens that can have come back since the bucket was last seen empty.
    const refilled = Math.ceil((performance.now() - lastWaveAt) / SEND_INTERVAL_MS) + 1;

    // Assess
    expect(acked).toBeGreaterThanOrEqual(LIMITS.sendBurst);
    const more = replies.filter((reply) => reply.type === 'ack').length;
    const limited = [...refusals, ...replies.filter((reply) => reply.code === 'rate_limited')];
    expect(more + limited.length).toBe(20 + refusals.length);
    expect(more).toBeLessThanOrEqual(refilled);
    for (const reply of limited) {
      expect(reply).toMatchObject({ type: 'error', retryable: true, retryAfterMs: expect.any(Number) });
      expect(String(reply.message)).toContain('per user per conversation');
    }
    expect(await storedSeqs(alice, conversationId)).toEqual(range(acked + more));
  }, 120_000);

  it('counts edits and deletes in the same bucket: past it they are rate_limited and change nothing', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'rate-editor'));
    const conversationId = await createConversation(alice, ['rate-reader']);
    const { lastWaveAt } = await emptyBucket(alice, conversationId, 'edit');

    // Act: 20 edits of seq 1 at once, and a delete of seq 2, into the empty bucket.
    const replies = await Promise.all([
      ...Array.from({ length: 20 }, (_, n) =>
        alice.request({ action: 'edit', conversationId, seq: 1, body: `edit ${n}` }).catch((e: Frame) => e),
      ),
      alice.request({ action: 'delete', conversationId, seq: 2 }).catch((e: Frame) => e),
    ]);
    const refilled = Math.ceil((performance.now() - lastWaveAt) / SEND_INTERVAL_MS) + 1;

    // Assess
    const edited = replies.filter((reply) => reply.type === 'ack');
    const limited = replies.filter((reply) => reply.code === 'rate_limited');
    expect(edited.length + limited.length).toBe(replies.length);
    expect(edited.length).toBeLessThanOrEqual(refilled);
    expect(String(limited[0]?.message)).toContain('messages, edits and deletes');
    const page = await alice.request({ action: 'history', conversationId, beforeSeq: 3, limit: 2 });
    const [first] = page.messages as Frame[];
    // Each acked edit made one version; the refused ones made none.
    const editsOfFirst = edited.filter((reply) => reply.action === 'edit').length;
    expect(first?.version ?? 0).toBe(editsOfFirst);
  }, 120_000);

  it('limits each member on their own: another member sends while one is refused, and the refused one sends after retryAfterMs', async () => {
    // Prepare
    const carol = await track(connectAs(runtime(), 'rate-carol'));
    const dave = await track(connectAs(runtime(), 'rate-dave'));
    const conversationId = await createConversation(carol, ['rate-dave']);
    const { refusals } = await emptyBucket(carol, conversationId, 'c');
    const refused = refusals.at(-1);
    const retryAfterMs = Number(refused?.retryAfterMs);

    // Act: dave sends; carol sends again after the wait she was told.
    const fromDave = await sendPastBusy(dave, { conversationId, clientMessageId: 'd-1', body: 'dave' });
    await sleep(retryAfterMs);
    const afterTheWait = await sendPastBusy(carol, {
      conversationId,
      clientMessageId: 'c-after',
      body: 'after the wait',
    });

    // Assess
    expect(retryAfterMs).toBeGreaterThan(0);
    // At most one wave ahead of the bucket: 20 tokens.
    expect(retryAfterMs).toBeLessThanOrEqual(20 * SEND_INTERVAL_MS);
    expect(fromDave.type).toBe('ack');
    expect(afterTheWait.type).toBe('ack');
  }, 120_000);
});
