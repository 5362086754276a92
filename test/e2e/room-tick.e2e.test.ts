/**
 * The room tick on the local runtime (docs/rooms.md "The tick"): in a room with the longest tick (2 s), 20 quick
 * messages from several senders reach every viewer through the SDK, all of them in seq order, in at most
 * one frame per tick (plus the first message's, which goes out at once, and one for the edge); set back to
 * 0 with `setTick`, the same 20 messages take more frames. A sharded room (2 s tick) keeps the same bound.
 */
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ChatClient, type ChatMessage, connect } from '../../client';
import { LIMITS } from '../../shared/limits';
import { MAX_TICK_MS } from '../../shared/protocol';
import { SHARDS_MARKER } from '../../shared/store/connections';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';
import { range } from './chat-client';

const { runtime, track } = useLocalRuntime();

// The longest tick: sends are acked one after the other, and on a busy machine 20 of them may take longer
// than 20 short ticks, which would leave nothing to coalesce and the two rounds alike.
const TICK_MS = MAX_TICK_MS;
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

/**
 * A room with a tick of `tickMs` that ada, eve and fay send to and ben, cy and dot only watch, everyone
 * through the SDK; `round` sends MESSAGES and tells what each watcher's socket took to show them all.
 */
async function tickedRoom(tickMs: number) {
  const ada = viewer(uniqueUser('ada'));
  const room = await ada.chat.createRoom('Live', { tickMs });
  expect(room.tickMs).toBe(tickMs);
  const { conversationId } = room;
  const others = [viewer(uniqueUser('eve')), viewer(uniqueUser('fay'))];
  const viewers = [viewer(uniqueUser('ben')), viewer(uniqueUser('cy')), viewer(uniqueUser('dot'))];
  for (const { chat } of [...others, ...viewers]) await chat.joinRoom(conversationId);
  const shown: ChatMessage[][] = [];
  for (const { chat } of [ada, ...others, ...viewers]) {
    const seen: ChatMessage[] = [];
    shown.push(seen);
    const stream = chat.conversation(conversationId, { afterSeq: 0 });
    stream.on('message', (message) => seen.push(message));
    await stream.ready;
  }
  const senders = [ada.chat, ...others.map((other) => other.chat)];
  let sent = 0;
  return {
    ada: ada.chat,
    conversationId,
    shown,
    /**
     * Sends one message and waits until everyone shows it: it goes out when the group's last hold ends, so
     * a round after it starts with the group free (a round right after a ticked one would queue behind
     * that round's last hold, up to a tick, and come out coalesced whatever the tick is now).
     */
    async settle(): Promise<void> {
      await ada.chat.send(conversationId, 'settle').acked;
      sent += 1;
      await expect.poll(() => shown.every((seen) => seen.length >= sent), patiently).toBe(true);
    },
    /** Sends MESSAGES; answers how long until everyone showed them, and each watcher's posts meanwhile. */
    async round(label: string): Promise<{ elapsed: number; posts: number[] }> {
      const before = viewers.map((v) => v.posts());
      const startedAt = Date.now();
      await sendRound(senders, conversationId, label);
      sent += MESSAGES;
      await expect.poll(() => shown.every((seen) => seen.length >= sent), patiently).toBe(true);
      return { elapsed: Date.now() - startedAt, posts: viewers.map((v, i) => v.posts() - (before[i] ?? 0)) };
    },
  };
}

/** Every SDK client showed every message once, in seq order. */
function expectAllInOrder(shown: ChatMessage[][], count: number): void {
  for (const seen of shown) expect(seen.map((message) => message.seq)).toEqual(range(count));
}

/** Each watcher got the round in at most one post per tick, plus the first message's and one for the edge. */
function expectTicked({ elapsed, posts }: { elapsed: number; posts: number[] }, tickMs: number): void {
  for (const count of posts) {
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThanOrEqual(Math.ceil(elapsed / tickMs) + 2);
  }
}

describe('the room tick', () => {
  it('gives each viewer every message in seq order in at most one frame per tick, and more frames with the tick off', async () => {
    // Prepare
    const room = await tickedRoom(TICK_MS);

    // Act
    const ticked = await room.round('ticked');
    expect(await room.ada.setTick(room.conversationId, 0)).toMatchObject({ tickMs: 0 });
    await room.settle();
    const unticked = await room.round('unticked');

    // Assess
    expectAllInOrder(room.shown, 2 * MESSAGES + 1);
    expectTicked(ticked, TICK_MS);
    expect(Math.max(...ticked.posts)).toBeLessThan(Math.min(...unticked.posts));
  }, 120_000);

  it('holds a sharded room to one frame per tick too, its run split into one job per shard', async () => {
    // Prepare: a shard threshold of 2 (the handlers run in this process), so the room's 6 subscriptions
    // go to shards; its marker holds the tick before it holds the shard count. The longest tick, so that
    // the bound stays below one post per message on a busy machine too.
    const limits = LIMITS as { fanoutShardThreshold: number };
    const threshold = limits.fanoutShardThreshold;
    limits.fanoutShardThreshold = 2;
    try {
      const room = await tickedRoom(MAX_TICK_MS);

      // Act
      const ticked = await room.round('sharded');

      // Assess
      const { Items = [] } = await runtime().clients.dynamodb.send(
        new QueryCommand({
          TableName: runtime().tables.subscriptions,
          KeyConditionExpression: 'conversationId = :c AND connectionId = :m',
          ExpressionAttributeValues: { ':c': { S: room.conversationId }, ':m': { S: SHARDS_MARKER } },
        }),
      );
      expect(Items[0]).toMatchObject({
        tickMs: { N: String(MAX_TICK_MS) },
        shards: { N: expect.any(String) },
      });
      expectAllInOrder(room.shown, MESSAGES);
      expectTicked(ticked, MAX_TICK_MS);
    } finally {
      limits.fanoutShardThreshold = threshold;
    }
  }, 120_000);
});
