/**
 * The room tick on the local runtime (docs/rooms.md "The tick"): in a room with a 500 ms tick, 20 quick
 * messages from several senders reach every viewer through the SDK, all of them in seq order, in at most
 * one frame per tick (plus the first message's, which goes out at once, and one for the edge); set back to
 * 0 with `setTick`, the same 20 messages take more frames.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ChatClient, type ChatMessage, connect } from '../../client';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';

const { runtime, track } = useLocalRuntime();

const TICK_MS = 500;
const MESSAGES = 20;
const patiently = { timeout: 30_000, interval: 50 };

/** An SDK client whose socket counts the pushes (a `message` or a `batch` frame: one post each) it gets. */
function viewer(userId: string): { chat: ChatClient; posts: () => number } {
  let posts = 0;
  class CountingSocket extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      this.on('message', (data) => {
        const type = (JSON.parse(String(data)) as { type?: string }).type;
        if (type === 'message' || type === 'batch') posts++;
      });
    }
  }
  const chat = track(
    connect({
      url: runtime().webSocketUrl,
      tokenProvider: () => runtime().issueToken(userId),
      WebSocket: CountingSocket as never,
    }),
  );
  return { chat, posts: () => posts };
}

/** Sends MESSAGES one after the other (each acked before the next), the senders in turn. */
async function sendRound(senders: ChatClient[], conversationId: string, label: string): Promise<void> {
  for (let n = 0; n < MESSAGES; n++) {
    await (senders[n % senders.length] as ChatClient).send(conversationId, `${label} ${n + 1} ⏱`).acked;
  }
}

describe('the room tick', () => {
  it('gives each viewer every message in seq order in at most one frame per tick, and more frames with the tick off', async () => {
    // Prepare: ada creates a room with a 500 ms tick; two more senders and three viewers join it, and
    // everyone watches it through the SDK.
    const ada = viewer(uniqueUser('ada'));
    const room = await ada.chat.createRoom('Live', { tickMs: TICK_MS });
    expect(room.tickMs).toBe(TICK_MS);
    const { conversationId } = room;
    const others = [viewer(uniqueUser('eve')), viewer(uniqueUser('fay'))];
    const viewers = [viewer(uniqueUser('ben')), viewer(uniqueUser('cy')), viewer(uniqueUser('dot'))];
    for (const { chat } of [...others, ...viewers]) await chat.joinRoom(conversationId);
    const shown = new Map<ChatClient, ChatMessage[]>();
    for (const { chat } of [ada, ...others, ...viewers]) {
      const seen: ChatMessage[] = [];
      shown.set(chat, seen);
      const stream = chat.conversation(conversationId, { afterSeq: 0 });
      stream.on('message', (message) => seen.push(message));
      await stream.ready;
    }
    const senders = [ada.chat, ...others.map((other) => other.chat)];
    const everyoneHas = (count: number) => [...shown.values()].every((seen) => seen.length >= count);

    // Act 1: 20 messages with the tick on.
    const postsBefore = viewers.map((v) => v.posts());
    const startedAt = Date.now();
    await sendRound(senders, conversationId, 'ticked');
    await expect.poll(() => everyoneHas(MESSAGES), patiently).toBe(true);
    const elapsed = Date.now() - startedAt;
    const tickedPosts = viewers.map((v, i) => v.posts() - (postsBefore[i] ?? 0));

    // Act 2: the tick off, 20 more.
    expect(await ada.chat.setTick(conversationId, 0)).toMatchObject({ tickMs: 0 });
    const postsBetween = viewers.map((v) => v.posts());
    await sendRound(senders, conversationId, 'unticked');
    await expect.poll(() => everyoneHas(2 * MESSAGES), patiently).toBe(true);
    const untickedPosts = viewers.map((v, i) => v.posts() - (postsBetween[i] ?? 0));

    // Assess
    for (const seen of shown.values()) {
      expect(seen.map((message) => message.seq)).toEqual(
        Array.from({ length: 2 * MESSAGES }, (_, n) => n + 1),
      );
    }
    const cap = Math.ceil(elapsed / TICK_MS) + 2;
    for (const posts of tickedPosts) {
      expect(posts).toBeGreaterThan(0);
      expect(posts).toBeLessThanOrEqual(cap);
    }
    expect(Math.max(...tickedPosts)).toBeLessThan(Math.min(...untickedPosts));
  }, 120_000);
});
