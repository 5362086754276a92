import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type AttachmentDeps, createAttachmentsHandler } from '../../lambdas/attachments/attachments';
import { createS3Client } from '../../shared/aws';
import { LIMITS } from '../../shared/limits';
import { sendFrameSchema } from '../../shared/protocol';
import type { RouteEvent } from '../../shared/route-kit';
import { memberSk } from '../../shared/tables';
import { routeEvent } from '../support/api-gateway';

const NOW = new Date('2025-03-04T05:06:07.000Z');
const KEY_ID = '0b7f3c1e-6a52-4d1f-9c11-2f5d7a9e8b40';
const KEY = `conversations/c1/${KEY_ID}`;
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const ddbMock = mockClient(ddb);
const s3 = createS3Client({
  region: 'eu-west-1',
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
});

const makeDeps = (): AttachmentDeps => ({
  ddb,
  s3,
  tables: { conversations: 'test-conversations' },
  bucket: 'test-attachments',
  now: () => NOW,
  logger: new Logger({ serviceName: 'chat-attachments-test', logLevel: 'SILENT' }),
  disconnect: vi.fn(async () => {}),
  metrics: { record: vi.fn() },
  newKeyId: () => KEY_ID,
});

/** `frame` on its route from `userId`'s connection, with the fields every frame of these tests shares. */
const frameEvent = (frame: Record<string, unknown>, userId = 'alice'): RouteEvent =>
  routeEvent({
    body: { requestId: 'r-1', conversationId: 'c1', ...frame },
    routeKey: String(frame.action),
    userId,
    connectionId: `conn-${userId}`,
  });

async function invoke(frame: Record<string, unknown>, userId = 'alice'): Promise<Record<string, unknown>> {
  const result = await createAttachmentsHandler(makeDeps())(frameEvent(frame, userId));
  return JSON.parse(result.body) as Record<string, unknown>;
}

beforeEach(() => {
  ddbMock.reset();
  ddbMock.on(GetCommand).callsFake(({ Key }) => ({
    Item: Key?.sk === memberSk('alice') ? { conversationId: 'c1' } : undefined,
  }));
});

describe('uploadUrl', () => {
  it('signs a PUT of a new key under the conversation prefix, bound to the content type and exact size asked', async () => {
    // Act
    const reply = await invoke({ action: 'uploadUrl', contentType: 'image/png', size: 1234 });

    // Assess
    expect(reply).toMatchObject({
      type: 'ack',
      action: 'uploadUrl',
      key: KEY,
      method: 'PUT',
      headers: { 'content-type': 'image/png', 'content-length': '1234' },
      expiresAt: new Date(NOW.getTime() + LIMITS.attachmentUrlTtlSeconds * 1000).toISOString(),
    });
    const url = new URL(String(reply.url));
    expect(url.pathname).toBe(`/${KEY}`);
    expect(url.hostname).toBe('test-attachments.s3.eu-west-1.amazonaws.com');
    expect(url.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toEqual(
      expect.arrayContaining(['content-length', 'content-type', 'host']),
    );
    expect(url.searchParams.get('X-Amz-Expires')).toBe(String(LIMITS.attachmentUrlTtlSeconds));
    // No checksum of the body the URL is signed without: S3 would refuse every upload that is not empty.
    expect([...url.searchParams.keys()].filter((name) => name.toLowerCase().includes('checksum'))).toEqual(
      [],
    );
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      Key: { conversationId: 'c1', sk: memberSk('alice') },
      ConsistentRead: true,
    });
  });

  it('refuses a non-member with forbidden and signs nothing', async () => {
    // Act
    const reply = await invoke({ action: 'uploadUrl', contentType: 'image/png', size: 10 }, 'mallory');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
    expect(reply).not.toHaveProperty('url');
  });

  it.each([
    ['a type that is not allowed', { contentType: 'text/html', size: 10 }, 'invalid_request'],
    ['an empty file', { contentType: 'image/png', size: 0 }, 'invalid_request'],
    [
      'a size over the limit',
      { contentType: 'image/png', size: LIMITS.maxAttachmentBytes + 1 },
      'payload_too_large',
    ],
  ])('refuses %s with %s before any AWS call', async (_case, fields, code) => {
    // Act
    const reply = await invoke({ action: 'uploadUrl', ...fields });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe('downloadUrl', () => {
  it('signs a GET of the key for a member', async () => {
    // Act
    const reply = await invoke({ action: 'downloadUrl', key: KEY });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', action: 'downloadUrl', url: expect.any(String) });
    const url = new URL(String(reply.url));
    expect(url.pathname).toBe(`/${KEY}`);
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a non-member with forbidden', async () => {
    // Act
    const reply = await invoke({ action: 'downloadUrl', key: KEY }, 'mallory');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
  });

  it("refuses a key of another conversation's prefix with invalid_request before any AWS call", async () => {
    // Act
    const reply = await invoke({ action: 'downloadUrl', key: `conversations/c2/${KEY_ID}` });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe('send with an attachment (protocol)', () => {
  const send = (attachment: Record<string, unknown>) =>
    sendFrameSchema.safeParse({
      action: 'send',
      conversationId: 'c1',
      clientMessageId: 'm1',
      body: 'pic',
      attachment,
    });

  it('accepts an attachment under the conversation prefix', () => {
    expect(send({ key: KEY, contentType: 'image/png', size: 10 }).success).toBe(true);
  });

  it.each([
    [
      'a key of another conversation',
      { key: `conversations/c2/${KEY_ID}`, contentType: 'image/png', size: 10 },
    ],
    [
      'a key the server did not make',
      { key: 'conversations/c1/../c2/x', contentType: 'image/png', size: 10 },
    ],
    ['a type that is not allowed', { key: KEY, contentType: 'text/html', size: 10 }],
    ['a size over the limit', { key: KEY, contentType: 'image/png', size: LIMITS.maxAttachmentBytes + 1 }],
  ])('refuses %s', (_case, attachment) => {
    expect(send(attachment).success).toBe(false);
  });
});
