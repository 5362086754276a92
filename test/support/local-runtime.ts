/**
 * The vitest side of the end-to-end tests, apart from ./helpers.ts, which the benchmark also imports
 * and which must not load vitest.
 */
import { afterAll, beforeAll } from 'vitest';
import { type LocalRuntime, type LocalRuntimeOptions, startLocalRuntime } from '../../local/runtime';
import type { ChatClient } from '../e2e/chat-client';

/**
 * One local runtime for the test file that calls it: started before its tests, stopped after them,
 * with every client that `track` was given closed first.
 */
export function useLocalRuntime(options: LocalRuntimeOptions = { logLevel: 'ERROR' }): {
  runtime: () => LocalRuntime;
  track: (client: Promise<ChatClient>) => Promise<ChatClient>;
} {
  let runtime: LocalRuntime | undefined;
  const clients: ChatClient[] = [];
  beforeAll(async () => {
    runtime = await startLocalRuntime(options);
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await runtime?.stop();
  });
  return {
    runtime: () => {
      if (runtime === undefined) throw new Error('The local runtime is not started yet');
      return runtime;
    },
    track: async (client) => {
      const connected = await client;
      clients.push(connected);
      return connected;
    },
  };
}
