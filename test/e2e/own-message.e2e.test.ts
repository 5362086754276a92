/**
 * The sender's own message on the local runtime: the connection that sent it gets the ack and not the
 * push, its SDK shows the message from the ack (exactly once, no `history` read), and the same user's
 * other connection is pushed it.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ChatClient, type ChatMessage, connect } from '../../client';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';

const { runtime, track } = useLocalRuntime();

type Frame = Record<string, unknown>;

/** An SDK client whose socket records every frame it sends and receives. */
function open(userId: string): { chat: ChatClient; sent: Frame[]; received: Frame[] } {
  const sent: Frame[] = [];
  const received: Frame[] = [];
  class RecordingSocket extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      this.on('message', (data) => received.push(JSON.parse(String(data)) as Frame));
    }
    override send(data: string, ...rest: never[]): void {
      sent.push(JSON.parse(data) as Frame);
      super.send(data, ...rest);
    }
  }
  const chat = connect({
    url: runtime().webSocketUrl,
    tokenProvider: () => runtime().issueToken(userId),
    WebSocket: RecordingSocket as never,
  });
  track(chat);
  return { chat, sent, received };
}

/** What the app was shown of a conversation. */
async function shown(chat: ChatClient, conversationId: string): Promise<ChatMessage[]> {
  const messages: ChatMessage[] = [];
  const stream = chat.conversation(conversationId, { afterSeq: 0 });
  stream.on('message', (message) => messages.push(message));
  await stream.ready;
  return messages;
}

/** The message pushes of `seq`, batches unpacked (a push inside a batch is a push all the same). */
const pushesOf = (frames: Frame[], seq: number): Frame[] =>
  frames
    .flatMap((frame) => (frame.type === 'batch' ? (frame.frames as Frame[]) : [frame]))
    .filter((frame) => frame.type === 'message' && frame.seq === seq);

describe("the sender's own message", () => {
  it('reaches the sending SDK once from its ack, with no history read, and the same user’s other tab by push', async () => {
    // Prepare: alice has two tabs open on a 1:1 with bob.
    const [aliceId, bobId] = [uniqueUser('alice'), uniqueUser('bob')];
    const tab = open(aliceId);
    const otherTab = open(aliceId);
    const bob = open(bobId);
    const { conversationId } = await tab.chat.openDirect(bobId);
    const [inTab, inOtherTab, toBob] = await Promise.all([
      shown(tab.chat, conversationId),
      shown(otherTab.chat, conversationId),
      shown(bob.chat, conversationId),
    ]);

    // Act
    const ack = await tab.chat.send(conversationId, 'hello from my first tab');

    // Assess
    const expected = { seq: ack.seq, senderId: aliceId, body: 'hello from my first tab' };
    await expect.poll(() => toBob.length, { timeout: 20_000 }).toBe(1);
    await expect.poll(() => inOtherTab.length, { timeout: 20_000 }).toBe(1);
    expect(inTab).toEqual([expect.objectContaining(expected)]);
    expect(inOtherTab).toEqual([expect.objectContaining(expected)]);
    expect(pushesOf(otherTab.received, ack.seq)).toHaveLength(1);
    expect(pushesOf(bob.received, ack.seq)).toHaveLength(1);
    expect(pushesOf(tab.received, ack.seq)).toEqual([]);
    expect(tab.sent.filter((frame) => frame.action === 'history')).toEqual([]);
  }, 60_000);
});
