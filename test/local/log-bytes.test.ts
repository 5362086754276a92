/**
 * What one message costs in CloudWatch Logs: the lines the send and fan-out functions write at INFO for
 * one 1:1 message, on the local runtime, stay under LOG_BYTES_PER_MESSAGE (docs/cost.md "Cutting the
 * 1:1 path"). Bytes, not time, so the bound holds on any machine.
 */
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { connectAs, createConversation, letAnyoneAdd, sendMessage } from '../e2e/helpers';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';

/** The INFO bytes one message may log across send and fan-out. */
const LOG_BYTES_PER_MESSAGE = 300;

const { runtime, track } = useLocalRuntime({ logLevel: 'INFO' });

let written: string[] = [];
let stdout: MockInstance<typeof process.stdout.write>;
beforeEach(() => {
  written = [];
  const write = process.stdout.write.bind(process.stdout);
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk, ...rest) => {
    written.push(String(chunk));
    return write(chunk as never, ...(rest as unknown as never[]));
  });
});
afterEach(() => stdout.mockRestore());

/** The INFO lines the handlers wrote since `written` was last emptied. */
const infoLines = (): string[] =>
  written
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes('"level":"INFO"'));

describe('log bytes per message', () => {
  it(`stay under ${LOG_BYTES_PER_MESSAGE} at INFO across send and fan-out for a 1:1 message`, async () => {
    // Prepare
    const [aliceId, bobId] = [uniqueUser('alice'), uniqueUser('bob')];
    await letAnyoneAdd(runtime(), [bobId]);
    const alice = await track(connectAs(runtime(), aliceId));
    const bob = await track(connectAs(runtime(), bobId));
    const conversationId = await createConversation(alice, [bobId]);
    await alice.request({ action: 'subscribe', conversationId });
    await bob.request({ action: 'subscribe', conversationId });
    written = [];

    // Act
    const ack = await sendMessage(alice, conversationId, 'm-1', 'hello bob');
    await expect.poll(() => bob.seqs(conversationId), { timeout: 20_000 }).toContain(Number(ack.seq));
    // A barrier: a conversation's records are fanned out in order, so once the next one is pushed the
    // first one's fan-out has returned and written its lines. The barrier's own lines are left out.
    const barrier = await sendMessage(alice, conversationId, 'm-2', 'barrier');
    await expect.poll(() => bob.seqs(conversationId), { timeout: 20_000 }).toContain(Number(barrier.seq));

    // Assess
    const lines = infoLines().filter((line) => !line.includes(`"seq":${Number(barrier.seq)}`));
    const bytes = lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
    expect(ack.type).toBe('ack');
    expect(bytes, lines.join('\n')).toBeLessThanOrEqual(LOG_BYTES_PER_MESSAGE);
  }, 90_000);
});
