import { execFile } from 'node:child_process';
import * as path from 'node:path';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { invokeRedrive } from '../../local/redrive';
import { useLocalRuntime } from '../support/local-runtime';
import type { ChatClient } from './chat-client';
import { connectWithId as connectWithIdOf, createConversation, letAnyoneAdd, sendMessage } from './helpers';

const ROOT = path.join(__dirname, '..', '..');

// Short visibility and two receives, so a failing message reaches the DLQ within seconds.
const { runtime, track, stateFile } = useLocalRuntime({
  visibilityTimeoutSeconds: 1,
  maxReceiveCount: 2,
  stateFile: true,
});
// Not a test of consent: the users these tests add to groups let anyone add them.
beforeAll(() => letAnyoneAdd(runtime(), ['frank']));

/** Connects, tracks the client for teardown, and returns its API Gateway connection id. */
async function connectWithId(userId: string): Promise<{ client: ChatClient; connectionId: string }> {
  const connected = await connectWithIdOf(runtime(), userId);
  track(connected.client);
  return connected;
}

async function deadLetterDepth(): Promise<number> {
  const { Attributes } = await runtime().clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: runtime().queues.deadLetter.url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/**
 * Runs the real `npm run redrive` entry in a child process against this file's runtime, found through a
 * state file of its own like the one `npm start` writes. Asynchronous on purpose: the runtime it calls
 * lives in this process and must keep serving while the child runs.
 */
async function runRedriveCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'local/redrive.ts', ...args],
      { cwd: ROOT, env: { ...process.env, RUNTIME_STATE_FILE: stateFile() }, timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') reject(err);
        else resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
      },
    );
  });
}

describe('a fan-out that keeps failing', () => {
  it('goes to the DLQ, a dry run leaves it there, and after `npm run redrive` it is delivered', async () => {
    // Prepare: frank's connection answers 500 to every post
    const { client: alice } = await connectWithId('alice');
    const conversationId = await createConversation(alice, ['frank']);
    const { client: frank, connectionId } = await connectWithId('frank');
    await frank.request({ action: 'subscribe', conversationId });
    runtime().api.injectPostFailure(connectionId, 500);
    // Act
    const ack = await sendMessage(alice, conversationId, 'doomed', 'will this arrive?');
    await expect.poll(deadLetterDepth, { timeout: 30_000, interval: 250 }).toBe(1);
    const framesWhileFailing = frank.seqs(conversationId);
    runtime().api.injectPostFailure(connectionId, undefined);
    const dryRun = await invokeRedrive(runtime().controlUrl, { dryRun: true });
    const depthAfterDryRun = await deadLetterDepth();
    const cli = await runRedriveCli([]);
    // Assess
    expect(ack).toMatchObject({ type: 'ack', seq: 1 });
    expect(framesWhileFailing).toEqual([]);
    expect(dryRun).toEqual({ moved: 0, skipped: 0, dryRun: true, wouldMove: 1 });
    expect(depthAfterDryRun).toBe(1);
    expect(cli.code).toBe(0);
    // The CLI redrives both dead-letter queues, the fan-out's first; the shard DLQ has nothing here.
    expect(JSON.parse(cli.stdout)).toEqual({
      fanout: { moved: 1, skipped: 0, dryRun: false, wouldMove: 0 },
      shards: { moved: 0, skipped: 0, dryRun: false, wouldMove: 0 },
    });
    await expect.poll(() => frank.seqs(conversationId), { timeout: 15_000 }).toEqual([1]);
    expect(await deadLetterDepth()).toBe(0);
  }, 60_000);

  it('refuses bad redrive input with a function error', async () => {
    await expect(invokeRedrive(runtime().controlUrl, { maxMessages: 'lots' })).rejects.toThrow(
      /Redrive failed/,
    );
  });

  it('`npm run redrive` exits 1 with one line naming a bad flag', async () => {
    const cli = await runRedriveCli(['--max', '0']);

    expect(cli.code).toBe(1);
    expect(cli.stderr.trim()).toBe('--max takes a whole number of letters');
    expect(cli.stdout).toBe('');
  });
});

describe('the management API answers the real AWS SDK client', () => {
  const management = () =>
    new ApiGatewayManagementApiClient({
      endpoint: runtime().managementEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });

  it('posts, describes and deletes a connection, and answers GoneException for an unknown one', async () => {
    // Prepare
    const { client, connectionId } = await connectWithId('grace');
    const api = management();
    // Act
    await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: '{"type":"ping"}' }));
    const described = await api.send(new GetConnectionCommand({ ConnectionId: connectionId }));
    await api.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    // Assess
    await expect
      .poll(() => client.frames.some((frame) => frame.type === 'ping'), { timeout: 5_000 })
      .toBe(true);
    expect(described.ConnectedAt).toBeInstanceOf(Date);
    expect(described.Identity?.SourceIp).toBe('127.0.0.1');
    await expect.poll(() => client.closeCode, { timeout: 5_000 }).toBeDefined();
    for (const command of [
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'x' }),
      new GetConnectionCommand({ ConnectionId: connectionId }),
      new DeleteConnectionCommand({ ConnectionId: connectionId }),
    ]) {
      await expect(api.send(command as PostToConnectionCommand)).rejects.toBeInstanceOf(GoneException);
    }
  });
});
