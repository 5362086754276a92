/**
 * Coalescing on the local runtime (issue 17 point 3): when the fan-out has several records of one
 * conversation at hand, a raw subscriber gets them as `batch` frames in seq order, and an SDK subscriber
 * is shown every message once, in order, as if each had come alone.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ChatMessage, connect } from '../../client';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';
import { type Frame, range } from './chat-client';
import { connectAs, connectWithId, createConversation, letAnyoneAdd, sendMessage } from './helpers';

const fanoutLines: string[] = [];
// A short visibility timeout: the first fan-out fails on purpose, and the burst queues up behind it.
const { runtime, track } = useLocalRuntime({
  visibilityTimeoutSeconds: 4,
  onLog: (line) => {
    if (line.startsWith('fanout')) fanoutLines.push(line);
  },
});

/** Every push a raw client got for a conversation, batches unpacked, with the number of posts it took. */
function pushesOf(
  frames: Frame[],
  conversationId: string,
): { seqs: number[]; posts: number; batches: number } {
  const posts = frames.filter(
    (frame) =>
      (frame.type === 'message' || frame.type === 'batch') && frame.conversationId === conversationId,
  );
  const seqs = posts.flatMap((post) =>
    post.type === 'batch' ? (post.frames as Frame[]).map((inner) => Number(inner.seq)) : [Number(post.seq)],
  );
  return { seqs, posts: posts.length, batches: posts.filter((post) => post.type === 'batch').length };
}

describe('coalesced fan-out', () => {
  it('delivers a burst held up behind a failed record as batch frames, and the SDK shows each message once, in order', async () => {
    // Prepare
    const [aliceId, bobId, carolId] = [uniqueUser('alice'), uniqueUser('bob'), uniqueUser('carol')];
    await letAnyoneAdd(runtime(), [bobId, carolId]);
    const alice = track(await connectAs(runtime(), aliceId));
    const conversationId = await createConversation(alice, [bobId, carolId]);
    const { client: bob, connectionId: bobConnection } = await connectWithId(runtime(), bobId);
    track(bob);
    await bob.request({ action: 'subscribe', conversationId });
    // Bob's only subscribed connection fails every post: the first record fails and its group waits.
    runtime().api.injectPostFailure(bobConnection, 500);
    const failedBefore = fanoutLines.filter((line) => line.endsWith('failed')).length;
    expect(await sendMessage(alice, conversationId, 'first', 'message 1')).toMatchObject({ seq: 1 });
    await expect
      .poll(() => fanoutLines.filter((line) => line.endsWith('failed')).length, { timeout: 15_000 })
      .toBeGreaterThan(failedBefore);
    runtime().api.injectPostFailure(bobConnection, undefined);
    const carol = track(
      connect({
        url: runtime().webSocketUrl,
        tokenProvider: () => runtime().issueToken(carolId),
        WebSocket: WebSocket as never,
      }),
    );
    const shownToCarol: ChatMessage[] = [];
    const stream = carol.conversation(conversationId, { afterSeq: 0 });
    stream.on('message', (message) => shownToCarol.push(message));
    await stream.ready;

    // Act: a burst of 29 more while the group waits out its visibility timeout.
    await Promise.all(
      range(29).map((i) => sendMessage(alice, conversationId, `burst-${i}`, `message ${i + 1} 🎉`)),
    );

    // Assess
    await expect
      .poll(() => new Set(pushesOf(bob.frames, conversationId).seqs).size, { timeout: 30_000 })
      .toBe(30);
    const atBob = pushesOf(bob.frames, conversationId);
    // At least once: a redelivered record may come again, but each post holds its records in seq order.
    expect([...new Set(atBob.seqs)].sort((a, b) => a - b)).toEqual(range(30));
    for (const batch of bob.frames.filter((frame) => frame.type === 'batch')) {
      const seqs = (batch.frames as Frame[]).map((inner) => Number(inner.seq));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
    expect(atBob.batches).toBeGreaterThan(0);
    // Without coalescing a connection gets one post per message.
    expect(atBob.posts).toBeLessThan(30);
    await expect.poll(() => shownToCarol.length, { timeout: 30_000 }).toBe(30);
    expect(shownToCarol.map((message) => message.seq)).toEqual(range(30));
    expect(new Set(shownToCarol.map((message) => message.body)).size).toBe(30);
  }, 90_000);
});
