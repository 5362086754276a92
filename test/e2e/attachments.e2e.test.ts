import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { useLocalRuntime } from '../support/local-runtime';
import type { ChatClient, Frame } from './chat-client';
import { connectAs, createConversation, sendMessage } from './helpers';

const { runtime, track } = useLocalRuntime();

/** The web page's origin: the control plane, another origin than the bucket's. */
const pageOrigin = (): string => new URL(runtime().webUrl).origin;

/** A 1×1 transparent PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

/** Alice, a new conversation of hers with bob, and an upload URL for the PNG in it. */
async function pngUploadUrl(): Promise<{ alice: ChatClient; conversationId: string; upload: Frame }> {
  const alice = await track(connectAs(runtime(), 'alice'));
  const conversationId = await createConversation(alice, ['bob']);
  const upload = await alice.request({
    action: 'uploadUrl',
    conversationId,
    contentType: 'image/png',
    size: PNG.length,
  });
  return { alice, conversationId, upload };
}

describe('attachments through the local runtime (S3 on fauxqs)', () => {
  it('uploads a PNG with the presigned PUT, sends it, and another member downloads the same bytes', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'alice'));
    const bob = await track(connectAs(runtime(), 'bob'));
    const conversationId = await createConversation(alice, ['bob']);
    await bob.request({ action: 'subscribe', conversationId });

    // Act
    const upload = await alice.request({
      action: 'uploadUrl',
      conversationId,
      contentType: 'image/png',
      size: PNG.length,
    });
    const put = await fetch(String(upload.url), {
      method: 'PUT',
      headers: upload.headers as Record<string, string>,
      body: PNG,
    });
    const attachment = { key: upload.key, contentType: 'image/png', size: PNG.length };
    const ack = await sendMessage(alice, conversationId, 'pic-1', 'a pixel', { attachment });
    const pushedMessage = (): Frame | undefined =>
      bob.frames.find((frame) => frame.type === 'message' && frame.conversationId === conversationId);
    await expect.poll(pushedMessage, { timeout: 10_000 }).toBeDefined();
    const pushed = pushedMessage() ?? {};
    const download = await bob.request({
      action: 'downloadUrl',
      conversationId,
      key: (pushed.attachment as Frame | undefined)?.key,
    });
    const got = await fetch(String(download.url));
    const history = await bob.request({ action: 'history', conversationId });

    // Assess
    expect(upload).toMatchObject({
      type: 'ack',
      method: 'PUT',
      key: expect.stringMatching(`^conversations/${conversationId}/`),
    });
    expect(put.status).toBe(200);
    expect(ack).toMatchObject({ type: 'ack', seq: 1 });
    expect(pushed).toMatchObject({ seq: 1, body: 'a pixel', attachment });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer())).toEqual(PNG);
    expect(history.messages).toMatchObject([{ seq: 1, attachment }]);
  });

  it("answers a browser's CORS preflight of a presigned PUT as the bucket's rule does", async () => {
    // Prepare
    const { upload } = await pngUploadUrl();

    // Act: what a browser sends before the PUT (it sets content-length itself, so asks only for content-type).
    const preflight = await fetch(String(upload.url), {
      method: 'OPTIONS',
      headers: {
        origin: pageOrigin(),
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'content-type',
      },
    });

    // Assess
    expect(new URL(String(upload.url)).port).toBe(new URL(runtime().endpoints.s3).port);
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(pageOrigin());
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PUT');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type');
  });

  it('stores a PUT from the page and answers it and the presigned GET with the CORS headers', async () => {
    // Prepare
    const { alice, conversationId, upload } = await pngUploadUrl();

    // Act
    const put = await fetch(String(upload.url), {
      method: 'PUT',
      headers: { ...(upload.headers as Record<string, string>), origin: pageOrigin() },
      body: PNG,
    });
    const download = await alice.request({ action: 'downloadUrl', conversationId, key: upload.key });
    const got = await fetch(String(download.url), { headers: { origin: pageOrigin() } });

    // Assess
    expect(put.status).toBe(200);
    expect(put.headers.get('access-control-allow-origin')).toBe(pageOrigin());
    // The deployed rule exposes no header: the page can read no ETag on AWS, and none locally either.
    expect(put.headers.get('etag')).not.toBeNull();
    expect(put.headers.get('access-control-expose-headers')).toBeNull();
    expect(got.status).toBe(200);
    expect(got.headers.get('access-control-allow-origin')).toBe(pageOrigin());
    expect(Buffer.from(await got.arrayBuffer())).toEqual(PNG);
  });

  it("refuses another site's page: fauxqs checks no signature, so locally the origin stands in for it", async () => {
    // Prepare: a stored file, and the bucket's URL without a signature.
    const { alice, conversationId, upload } = await pngUploadUrl();
    await fetch(String(upload.url), {
      method: 'PUT',
      headers: upload.headers as Record<string, string>,
      body: PNG,
    });
    const listing = new URL(String(upload.url));
    listing.pathname = '/';
    listing.search = '';
    const evil = { origin: 'http://evil.example' };

    // Act
    const list = await fetch(String(listing), { headers: evil });
    const put = await fetch(String(upload.url), {
      method: 'PUT',
      headers: { ...(upload.headers as Record<string, string>), ...evil },
      body: Buffer.alloc(PNG.length),
    });
    const preflight = await fetch(String(upload.url), {
      method: 'OPTIONS',
      headers: { ...evil, 'access-control-request-method': 'PUT' },
    });
    const download = await alice.request({ action: 'downloadUrl', conversationId, key: upload.key });
    const stored = await fetch(String(download.url));

    // Assess
    expect([list.status, put.status, preflight.status]).toEqual([403, 403, 403]);
    expect(list.headers.get('access-control-allow-origin')).toBeNull();
    expect(Buffer.from(await stored.arrayBuffer())).toEqual(PNG);
  });

  it('refuses a non-member an upload or a download URL, and a wrong type, size or foreign key to a member', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'alice'));
    const mallory = await track(connectAs(runtime(), 'mallory'));
    const conversationId = await createConversation(alice, ['bob']);
    const upload = await alice.request({
      action: 'uploadUrl',
      conversationId,
      contentType: 'image/png',
      size: 10,
    });

    // Act
    const strangerUpload = await mallory.request({
      action: 'uploadUrl',
      conversationId,
      contentType: 'image/png',
      size: 10,
    });
    const strangerDownload = await mallory.request({
      action: 'downloadUrl',
      conversationId,
      key: upload.key,
    });
    const wrongType = await alice.request({
      action: 'uploadUrl',
      conversationId,
      contentType: 'text/html',
      size: 10,
    });
    const tooLarge = await alice.request({
      action: 'uploadUrl',
      conversationId,
      contentType: 'image/png',
      size: LIMITS.maxAttachmentBytes + 1,
    });
    const otherConversation = await createConversation(alice, ['carol']);
    const foreignKey = await alice.request({
      action: 'send',
      conversationId: otherConversation,
      clientMessageId: 'steal-1',
      body: 'look',
      attachment: { key: upload.key, contentType: 'image/png', size: 10 },
    });

    // Assess
    expect(strangerUpload).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(strangerDownload).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(wrongType).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(tooLarge).toMatchObject({ type: 'error', code: 'payload_too_large' });
    expect(foreignKey).toMatchObject({ type: 'error', code: 'invalid_request' });
    const history = await alice.request({ action: 'history', conversationId: otherConversation });
    expect(history.messages).toEqual([]);
  });
});
