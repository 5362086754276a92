/** The attachment routes: presigned POST uploads, confirmUpload's checks, and signed downloads. */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NotFound,
} from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type AttachmentDeps, createAttachmentsHandler } from '../../lambdas/attachments/attachments';
import { createS3Client } from '../../shared/aws/s3';
import { LIMITS } from '../../shared/limits';
import { sendFrameSchema } from '../../shared/protocol';
import type { RouteEvent } from '../../shared/route-kit';
import { memberSk } from '../../shared/tables';
import { routeEvent } from '../support/api-gateway';

const NOW = new Date('2025-03-04T05:06:07.000Z');
const KEY_ID = '0b7f3c1e-6a52-4d1f-9c11-2f5d7a9e8b40';
const UPLOAD_KEY = `uploads/c1/${KEY_ID}`;
const KEY = `conversations/c1/${KEY_ID}`;
const BUCKET = 'test-attachments';
const ETAG = '"etag-1"';
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
const HTML = new TextEncoder().encode('<html><script>');
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const ddbMock = mockClient(ddb);
const s3 = createS3Client({
  region: 'eu-west-1',
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
});
const s3Mock = mockClient(s3);

const makeDeps = (): AttachmentDeps => ({
  ddb,
  s3,
  tables: { conversations: 'test-conversations' },
  bucket: BUCKET,
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

const notFound = () => new NotFound({ message: 'Not Found', $metadata: {} });

/** An upload at UPLOAD_KEY that says it is `contentType` of `size` bytes and starts with `bytes`. */
function givenUpload(contentType: string, bytes: Uint8Array, size = 1234): void {
  s3Mock
    .on(HeadObjectCommand, { Key: UPLOAD_KEY })
    .resolves({ ContentType: contentType, ContentLength: size, ETag: ETAG });
  s3Mock
    .on(GetObjectCommand, { Key: UPLOAD_KEY })
    // The one method of a body stream the code reads (the ranged GET's 12 bytes at most).
    .callsFake(() => ({ Body: { transformToByteArray: async () => bytes.subarray(0, 12) } as never }));
}

const s3Calls = (): string[] => s3Mock.calls().map((call) => call.args[0].constructor.name);

beforeEach(() => {
  ddbMock.reset();
  s3Mock.reset();
  ddbMock.on(GetCommand).callsFake(({ Key }) => ({
    Item: Key?.sk === memberSk('alice') ? { conversationId: 'c1' } : undefined,
  }));
});

describe('uploadUrl', () => {
  it('signs a POST whose policy allows exactly this key, this content type and this size, and no other field', async () => {
    // Act
    const reply = await invoke({ action: 'uploadUrl', contentType: 'image/png', size: 1234 });

    // Assess
    expect(reply).toMatchObject({
      type: 'ack',
      action: 'uploadUrl',
      key: UPLOAD_KEY,
      method: 'POST',
      expiresAt: new Date(NOW.getTime() + LIMITS.attachmentUrlTtlSeconds * 1000).toISOString(),
    });
    const fields = reply.fields as Record<string, string>;
    expect(fields).toMatchObject({
      key: UPLOAD_KEY,
      'Content-Type': 'image/png',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    });
    expect(fields['X-Amz-Signature']).toMatch(/^[0-9a-f]{64}$/);
    const policy = JSON.parse(Buffer.from(String(fields.Policy), 'base64').toString()) as {
      conditions: unknown[];
    };
    expect(policy.conditions).toEqual(
      expect.arrayContaining([
        { bucket: BUCKET },
        { key: UPLOAD_KEY },
        ['eq', '$Content-Type', 'image/png'],
        ['content-length-range', 1234, 1234],
      ]),
    );
    // Every field the form carries is one the policy names (S3 refuses any other).
    const named = policy.conditions.flatMap((c) =>
      Array.isArray(c) ? [String(c[1]).slice(1)] : Object.keys(c as object),
    );
    for (const field of Object.keys(fields).filter((f) => !['Policy', 'X-Amz-Signature'].includes(f))) {
      expect(named.map((n) => n.toLowerCase())).toContain(field.toLowerCase());
    }
    expect(new URL(String(reply.url)).hostname).toBe(`${BUCKET}.s3.eu-west-1.amazonaws.com`);
    expect(s3Mock.calls()).toHaveLength(0);
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

describe('confirmUpload', () => {
  it('checks the upload, copies it under the conversation with its checked type and uploader, and deletes the upload', async () => {
    // Prepare
    givenUpload('image/png', PNG);

    // Act
    const reply = await invoke({ action: 'confirmUpload', key: UPLOAD_KEY });

    // Assess
    expect(reply).toMatchObject({
      type: 'ack',
      attachment: { key: KEY, contentType: 'image/png', size: 1234 },
    });
    expect(s3Calls()).toEqual([
      'HeadObjectCommand',
      'GetObjectCommand',
      'CopyObjectCommand',
      'DeleteObjectCommand',
    ]);
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
      Key: UPLOAD_KEY,
      Range: 'bytes=0-11',
      IfMatch: ETAG,
    });
    expect(s3Mock).toHaveReceivedCommandWith(CopyObjectCommand, {
      Bucket: BUCKET,
      Key: KEY,
      CopySource: `${BUCKET}/${UPLOAD_KEY}`,
      CopySourceIfMatch: ETAG,
      MetadataDirective: 'REPLACE',
      ContentType: 'image/png',
      Metadata: { uploader: 'alice' },
    });
    expect(s3Mock).toHaveReceivedCommandWith(DeleteObjectCommand, { Key: UPLOAD_KEY });
  });

  it('refuses an HTML body uploaded as image/png, deletes it and makes no attachment of it', async () => {
    // Prepare
    givenUpload('image/png', HTML);

    // Act
    const reply = await invoke({ action: 'confirmUpload', key: UPLOAD_KEY });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(String(reply.message)).toContain('first bytes are not those of image/png');
    expect(s3Mock).not.toHaveReceivedCommand(CopyObjectCommand);
    expect(s3Mock).toHaveReceivedCommandWith(DeleteObjectCommand, { Key: UPLOAD_KEY });
  });

  it('refuses an upload stored with a type members may not send', async () => {
    // Prepare: a bucket that took any type (the local S3 without its front, say).
    givenUpload('text/html', HTML);

    // Act
    const reply = await invoke({ action: 'confirmUpload', key: UPLOAD_KEY });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(s3Mock).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('answers not_found for a key nothing was uploaded to', async () => {
    // Prepare
    s3Mock.on(HeadObjectCommand).rejects(notFound());

    // Act
    const reply = await invoke({ action: 'confirmUpload', key: UPLOAD_KEY });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'not_found' });
    expect(s3Mock).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('answers a resend with the attachment the first confirm made', async () => {
    // Prepare: the upload is gone, its copy is there, uploaded by alice.
    s3Mock.on(HeadObjectCommand, { Key: UPLOAD_KEY }).rejects(notFound());
    s3Mock
      .on(HeadObjectCommand, { Key: KEY })
      .resolves({ ContentType: 'image/png', ContentLength: 1234, Metadata: { uploader: 'alice' } });

    // Act
    const reply = await invoke({ action: 'confirmUpload', key: UPLOAD_KEY });

    // Assess
    expect(reply).toMatchObject({
      type: 'ack',
      attachment: { key: KEY, contentType: 'image/png', size: 1234 },
    });
  });

  it('refuses a non-member before reading the bucket', async () => {
    // Act
    const reply = await invoke({ action: 'confirmUpload', key: UPLOAD_KEY }, 'mallory');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it("refuses a key of another conversation's uploads before any AWS call", async () => {
    // Act
    const reply = await invoke({ action: 'confirmUpload', key: `uploads/c2/${KEY_ID}` });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe('downloadUrl', () => {
  it('signs the verified type and an inline disposition into the GET of an image', async () => {
    // Prepare
    s3Mock.on(HeadObjectCommand, { Key: KEY }).resolves({ ContentType: 'image/png', ContentLength: 10 });

    // Act
    const reply = await invoke({ action: 'downloadUrl', key: KEY });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', contentType: 'image/png', disposition: 'inline' });
    const url = new URL(String(reply.url));
    expect(url.pathname).toBe(`/${KEY}`);
    expect(url.searchParams.get('response-content-type')).toBe('image/png');
    expect(url.searchParams.get('response-content-disposition')).toBe(`inline; filename="${KEY_ID}.png"`);
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('signs an attachment disposition for anything but an image', async () => {
    // Prepare
    s3Mock
      .on(HeadObjectCommand, { Key: KEY })
      .resolves({ ContentType: 'application/pdf', ContentLength: 10 });

    // Act
    const reply = await invoke({ action: 'downloadUrl', key: KEY });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', contentType: 'application/pdf', disposition: 'attachment' });
    const url = new URL(String(reply.url));
    expect(url.searchParams.get('response-content-disposition')).toBe(`attachment; filename="${KEY_ID}.pdf"`);
  });

  it('answers not_found when the object is gone (its message was deleted)', async () => {
    // Prepare
    s3Mock.on(HeadObjectCommand).rejects(notFound());

    // Act
    const reply = await invoke({ action: 'downloadUrl', key: KEY });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'not_found' });
    expect(reply).not.toHaveProperty('url');
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
    ['an upload key nobody confirmed', { key: UPLOAD_KEY, contentType: 'image/png', size: 10 }],
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
