/**
 * Issue 18, point 4: the local runtime runs many invocations of a function in one process and one
 * module, yet each logs with its own keys, as on Lambda where an environment runs one at a time. Two
 * invocations of a fixture that append different keys to the same module-scope logger and log in
 * between each other's turns each write only their own; so do concurrent sends in two conversations.
 */
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { loadFunctions } from '../../local/functions';
import { connectWithId, createConversation, letAnyoneAdd, sendMessage } from '../e2e/helpers';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';
import { gates } from './fixtures/log-keys-handler';

const ROOT = path.join(__dirname, '..', '..');
const SENDS_EACH = 8;

const { runtime, track } = useLocalRuntime({ logLevel: 'INFO' });

let written: string[] = [];
let stdout: MockInstance<typeof process.stdout.write>;
beforeEach(() => {
  written = [];
  gates.clear();
  const write = process.stdout.write.bind(process.stdout);
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk, ...rest) => {
    written.push(String(chunk));
    return write(chunk as never, ...(rest as unknown as never[]));
  });
});
afterEach(() => stdout.mockRestore());

/** The JSON lines written whose message is `message`, parsed. */
const linesOf = (message: string): Record<string, unknown>[] =>
  written
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes(`"message":"${message}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('concurrent local invocations of one function', () => {
  it('each log with their own keys and context, even when they interleave', async () => {
    // Prepare
    const functions = await loadFunctions(
      {
        keys: {
          entry: 'test/local/fixtures/log-keys-handler.ts',
          description: 'logs the keys of its event after a wait',
          tables: {},
          timeoutSeconds: 10,
        },
      },
      { root: ROOT, onLog: () => undefined },
    );
    const first = functions.invoke('keys', { conversationId: 'c-first', seq: 1 });
    const second = functions.invoke('keys', { conversationId: 'c-second', seq: 2 });
    await expect.poll(() => gates.size, { timeout: 10_000 }).toBe(2);

    // Act: the first logs while the second's keys are appended, the second after the first removed its own.
    gates.get('c-first')?.();
    const firstRequestId = await first;
    gates.get('c-second')?.();
    const secondRequestId = await second;

    // Assess
    const lines = linesOf('Stored');
    expect(
      lines.map(({ conversationId, seq, function_request_id }) => ({
        conversationId,
        seq,
        function_request_id,
      })),
    ).toEqual([
      { conversationId: 'c-first', seq: 1, function_request_id: firstRequestId },
      { conversationId: 'c-second', seq: 2, function_request_id: secondRequestId },
    ]);
  });
});

describe('concurrent sends in two conversations on the local runtime', () => {
  it("log each send's own connection, user, conversation and seq", async () => {
    // Prepare
    const [aliceId, bobId, carolId] = [uniqueUser('alice'), uniqueUser('bob'), uniqueUser('carol')];
    await letAnyoneAdd(runtime(), [carolId]);
    const alice = await connectWithId(runtime(), aliceId);
    track(alice.client);
    const bob = await connectWithId(runtime(), bobId);
    track(bob.client);
    const senders = [
      { userId: aliceId, ...alice, conversationId: await createConversation(alice.client, [carolId]) },
      { userId: bobId, ...bob, conversationId: await createConversation(bob.client, [carolId]) },
    ];
    written = [];

    // Act
    const acked = await Promise.all(
      senders.map((sender) =>
        Promise.all(
          Array.from({ length: SENDS_EACH }, (_, i) =>
            sendMessage(sender.client, sender.conversationId, `m-${i}`, `hello ${i}`),
          ),
        ),
      ),
    );

    // Assess
    const stored = linesOf('Message stored').map(({ connectionId, userId, conversationId, seq }) => ({
      connectionId,
      userId,
      conversationId,
      seq,
    }));
    for (const [i, sender] of senders.entries()) {
      const own = stored.filter((line) => line.userId === sender.userId);
      expect(own.map(({ seq, ...keys }) => keys)).toEqual(
        Array.from({ length: SENDS_EACH }, () => ({
          connectionId: sender.connectionId,
          userId: sender.userId,
          conversationId: sender.conversationId,
        })),
      );
      const seqs = (acked[i] ?? []).map((ack) => Number(ack.seq));
      expect(own.map(({ seq }) => seq).sort((a, b) => Number(a) - Number(b))).toEqual(
        seqs.sort((a, b) => a - b),
      );
    }
    expect(stored).toHaveLength(2 * SENDS_EACH);
  }, 90_000);
});
