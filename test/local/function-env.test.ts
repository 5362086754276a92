/**
 * Locally every function's variables are merged into one process, so a handler that reads a variable
 * its wiring does not grant would work on a laptop and fail its first cold start on AWS. Here each
 * handler is imported with only what the stack gives it.
 */
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FUNCTIONS, type FunctionWiring } from '../../lib/wiring';
import { environmentFor, type ResourceValues } from '../../local/functions';
import { ENV } from '../../shared/env';

const ROOT = path.join(__dirname, '..', '..');
const ORIGINAL_ENV = process.env;

const FAKE_VALUES: ResourceValues = {
  tables: {
    connections: 'test-connections',
    subscriptions: 'test-subscriptions',
    conversations: 'test-conversations',
    messages: 'test-messages',
    idempotency: 'test-idempotency',
  },
  fanoutQueueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/test-fanout.fifo',
  deadLetterQueueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/test-fanout-dlq.fifo',
  shardQueueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/test-shards',
  managementEndpoint: 'https://abc123.execute-api.us-east-1.amazonaws.com/prod',
  jwt: {
    issuer: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test',
    jwksUrl: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test/.well-known/jwks.json',
    audience: 'test-client',
  },
  attachmentsBucket: 'test-attachments',
  offlineEventBus: 'test-chat-offline',
};

/** What a Lambda container of this function sees: its stack variables, a region and credentials. */
function stackEnvironment(wiring: FunctionWiring): NodeJS.ProcessEnv {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    ...environmentFor(wiring, FAKE_VALUES),
  };
}

/** Imports a handler afresh, as a cold start does, with `env` as the whole environment. */
async function coldStart(entry: string, env: NodeJS.ProcessEnv): Promise<{ handler?: unknown }> {
  vi.resetModules();
  process.env = env;
  return (await import(path.resolve(ROOT, entry))) as { handler?: unknown };
}

afterEach(() => {
  process.env = ORIGINAL_ENV;
});

describe('each handler with only the environment its wiring gives it', () => {
  it.each(Object.entries(FUNCTIONS))('the %s handler starts', async (_, wiring) => {
    const module = await coldStart(wiring.entry, stackEnvironment(wiring));

    expect(module.handler).toBeTypeOf('function');
  });

  it('fails the cold start naming a variable the wiring does not grant', async () => {
    // Prepare: the send wiring as if it had lost its fan-out queue
    const { [ENV.fanoutQueueUrl]: _, ...withoutQueue } = stackEnvironment(FUNCTIONS.send);
    // Act
    const started = coldStart(FUNCTIONS.send.entry, withoutQueue);
    // Assess
    await expect(started).rejects.toThrow(`Missing required environment variable ${ENV.fanoutQueueUrl}`);
  });
});
