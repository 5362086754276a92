import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invokeRedrive } from '../../local/redrive';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime';
import type { ChatClient } from './chat-client';
import { connectAs, createConversation, sendMessage } from './helpers';

let runtime: LocalRuntime;
const clients: ChatClient[] = [];

/** Connects and returns the client with its API Gateway connection id. */
async function connectWithId(userId: string): Promise<{ client: ChatClient; connectionId: string }> {
  const before = new Set(runtime.api.connectionIds());
  const client = await connectAs(runtime, userId);
  clients.push(client);
  const connectionId = runtime.api.connectionIds().find((id) => !before.has(id));
  if (connectionId === undefined) throw new Error('No new connection id');
  return { client, connectionId };
}

async function deadLetterDepth(): Promise<number> {
  const sqs = new SQSClient({
    endpoint: runtime.endpoints.sqs,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: runtime.queues.deadLetter.url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

beforeAll(async () => {
  // Short visibility and two receives, so a failing message reaches the DLQ within seconds.
  runtime = await startLocalRuntime({ visibilityTimeoutSeconds: 1, maxReceiveCount: 2, logLevel: 'ERROR' });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await runtime?.stop();
});

describe('a fan-out that keeps failing', () => {
  it('goes to the DLQ, and after the redrive the message is delivered', async () => {
    // Prepare: frank's connection answers 500 to every post
    const { client: alice } = await connectWithId('alice');
    const conversationId = await createConversation(alice, ['frank']);
    const { client: frank, connectionId } = await connectWithId('frank');
    await frank.request({ action: 'subscribe', conversationId });
    runtime.api.injectPostFailure(connectionId, 500);
    // Act
    const ack = await sendMessage(alice, conversationId, 'doomed', 'will this arrive?');
    await expect.poll(deadLetterDepth, { timeout: 30_000, interval: 250 }).toBe(1);
    expect(frank.seqs(conversationId)).toEqual([]);
    runtime.api.injectPostFailure(connectionId, undefined);
    const summary = await invokeRedrive(runtime.controlUrl, {});
    // Assess
    expect(ack).toMatchObject({ type: 'ack', seq: 1 });
    expect(summary).toMatchObject({ moved: 1, dryRun: false });
    await expect.poll(() => frank.seqs(conversationId), { timeout: 15_000 }).toEqual([1]);
    expect(await deadLetterDepth()).toBe(0);
  }, 60_000);

  it('moves nothing on a dry run', async () => {
    const summary = await invokeRedrive(runtime.controlUrl, { dryRun: true });

    expect(summary).toMatchObject({ moved: 0, dryRun: true });
  });

  it('refuses bad redrive input with a function error', async () => {
    await expect(invokeRedrive(runtime.controlUrl, { maxMessages: 'lots' })).rejects.toThrow(
      /Redrive failed/,
    );
  });
});

describe('the management API answers the real AWS SDK client', () => {
  const management = () =>
    new ApiGatewayManagementApiClient({
      endpoint: runtime.managementEndpoint,
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
