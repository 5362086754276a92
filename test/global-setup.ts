/**
 * The `local` project's global setup: one DynamoDB Local for the whole run, instead of one Java process
 * per test file (3–4 s of start-up each, and a JVM that never warms up). Files stay apart because each
 * uses an access key of its own (test/support/local-runtime.ts), and DynamoDB Local keeps a database
 * per access key. A file that stops or freezes DynamoDB Local starts its own instead (`ownDynamoDb`).
 */
import type { TestProject } from 'vitest/node';
import { assertJavaAvailable, startDynamoDbLocal } from '../local/services';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The endpoint of the run's DynamoDB Local; absent outside the `local` project. */
    sharedDynamoDbEndpoint?: string;
  }
}

/** Starts the run's DynamoDB Local; the returned function stops it once every file has finished. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  assertJavaAvailable();
  // One start for the whole run, so it can afford to wait: a loaded machine takes Java past 30 s.
  const dynamo = await startDynamoDbLocal({ startTimeoutMs: 120_000 });
  project.provide('sharedDynamoDbEndpoint', dynamo.endpoint);
  return () => dynamo.stop();
}
