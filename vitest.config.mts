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
        },
      },
      {
        // One file at a time on 2 cores. The files share one DynamoDB Local (Java), each with a database
        // of its own (test/global-setup.ts); each starts its own SQS emulator.
        extends: true,
        test: {
          name: 'local',
          globalSetup: ['test/global-setup.ts'],
          include: ['test/local/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
        },
      },
    ],
  },
});
