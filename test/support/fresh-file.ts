/**
 * A setup file of the `local` project, whose files run one after another in one worker process
 * (`isolate: false` in vitest.config.mts). A process per file cost each file a Node start and a fresh
 * load of node_modules (the AWS SDK, fauxqs, Powertools): about 1.2 s of CPU a file, on the suite's
 * critical path. Run before each file, this gives the file what a fresh process would: the project's own
 * modules load afresh (the handlers read their environment once, at load, so a module kept from the file
 * before would keep that file's endpoints), and process.env is put back after the file, so the endpoints
 * and variables a runtime or a test set never reach the next file.
 */
import { InvokeStore } from '@aws/lambda-invoke-store';
import { afterAll, beforeAll, vi } from 'vitest';

vi.resetModules();
// The process-wide store is whichever kind the first to ask creates: an AWS SDK call creates the kind for
// one invocation at a time, which local/functions.ts refuses. In a process per file the runtime asked
// first; in a shared one, a file that calls the SDK without a runtime may run before, so ask first here
// (before the file's own hooks and tests, which make its first AWS calls).
beforeAll(async () => {
  await InvokeStore.getInstanceAsync(true);
});

const environment = { ...process.env };
afterAll(() => {
  for (const name of Object.keys(process.env)) if (!(name in environment)) delete process.env[name];
  Object.assign(process.env, environment);
});
