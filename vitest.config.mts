import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    setupFiles: ['test/setup.ts'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/infra/**/*.test.ts', 'test/client/**/*.test.ts'],
          // A worker per core: vitest's default keeps one core for itself, which on 2 cores is one worker.
          maxWorkers: availableParallelism(),
        },
      },
      {
        // One file at a time on 2 cores, after the unit project. The files share one DynamoDB Local
        // (Java), each with a database of its own (test/global-setup.ts); each starts its own SQS
        // emulator. They share one worker process too, each with fresh modules and environment
        // (test/support/fresh-file.ts).
        extends: true,
        test: {
          name: 'local',
          globalSetup: ['test/global-setup.ts'],
          setupFiles: ['test/support/fresh-file.ts'],
          include: ['test/local/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts'],
          fileParallelism: false,
          isolate: false,
          // Projects whose workers differ in number run as groups of their own, in this order.
          sequence: { groupOrder: 1 },
          testTimeout: 60_000,
        },
      },
    ],
  },
});
