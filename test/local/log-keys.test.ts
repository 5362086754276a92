/**
 * Issue 18, point 4: the local runtime runs many invocations of a function in one process and one
 * module, yet each logs with its own keys, as on Lambda where an environment runs one at a time. Two
 * invocations that append different keys to the same module-scope logger and log in between each
 * other's turns each write only their own.
 */
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { loadFunctions } from '../../local/functions';
import { gates } from './fixtures/log-keys-handler';

const ROOT = path.join(__dirname, '..', '..');

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

/** The fixture's "Stored" lines, parsed. */
const storedLines = (): Record<string, unknown>[] =>
  written
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes('"Stored"'))
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
    const lines = storedLines();
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
