/**
 * Attachments through the local runtime (S3 on fauxqs behind local/s3-cors.ts): a presigned POST held
 * to its policy, confirmUpload's checks, what a message may name, signed downloads, and an object that
 * goes with its message.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { useLocalRuntime } from '../support/local-runtime';
import type { ChatClient, Frame } from './chat-client';
import { connectAs, createConversation, letAnyoneAdd, sendMessage } from './helpers';

const { runtime, track } = useLocalRuntime();
// Not a test of consent: the users these tests add to groups let anyone add them.
beforeAll(() => letAnyoneAdd(runtime(), ['bob', 'carol']));

/** The web page's origin: the control plane, another origin than the bucket's. */
const pageOrigin = (): string => new URL(runtime().webUrl).origin;

/** A 1×1 transparent PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

/** A page as long as the PNG, which a browser that sniffed it would run. */
const HTML = Buffer.from(`<html><script>alert(document.cookie)</script>`.padEnd(PNG.length, ' '));

/** POSTs the upload's signed form with `file` last, as a browser's FormData does. */
function post(
  upload: Frame,
  file: Buffer,
  fields: Record<string, string> = {},
  origin?: string,
): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries({ ...(upload.fields as Record<string, string>), ...fields }))
    form.append(name, value);
  form.append('file', new Blob([file]));
  return fetch(String(upload.url), {
    method: 'POST',
    body: form,
    ...(origin === undefined ? {} : { headers: { origin } }),
  });
}

/** Alice, a new conversation of hers with bob, and an upload URL for a PNG-sized image/png in it. */
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

/** The object at `key`, fetched without a signature (the local S3 checks none). */
const objectAt = (upload: Frame, key: string): Promise<Response> => {
  const url = new URL(String(upload.url));
  url.pathname = `/${key}`;
  return fetch(String(url));
};

describe('attachments through the local runtime (S3 on fauxqs)', () => {
  it('uploads a PNG with the presigned POST, confirms it, sends it, and another member downloads it inline with its type', async () => {
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
    const posted = await post(upload, PNG);
    const confirmed = await alice.request({ action: 'confirmUpload', conversationId, key: upload.key });
    const attachment = confirmed.attachment as Frame;
    const ack = await sendMessage(alice, conversationId, 'pic-1', 'a pixel', { attachment });
    const pushedMessage = (): Frame | undefined => bob.messages(conversationId)[0];
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
      method: 'POST',
      key: expect.stringMatching(`^uploads/${conversationId}/`),
    });
    expect(posted.status).toBe(204);
    expect(attachment).toEqual({
      key: String(upload.key).replace(/^uploads\//, 'conversations/'),
      contentType: 'image/png',
      size: PNG.length,
    });
    expect((await objectAt(upload, String(upload.key))).status).toBe(404);
    expect(ack).toMatchObject({ type: 'ack', seq: 1 });
    expect(pushed).toMatchObject({ seq: 1, body: 'a pixel', attachment });
    expect(download).toMatchObject({ contentType: 'image/png', disposition: 'inline' });
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('image/png');
    expect(got.headers.get('content-disposition')).toMatch(/^inline; filename="[0-9a-f-]+\.png"$/);
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await got.arrayBuffer())).toEqual(PNG);
    expect(history.messages).toMatchObject([{ seq: 1, attachment }]);
  });

  it('refuses an HTML body uploaded as image/png at confirmUpload and deletes it, so no message can name it', async () => {
    // Prepare
    const { alice, conversationId, upload } = await pngUploadUrl();
    const posted = await post(upload, HTML);

    // Act
    const confirmed = await alice.request({ action: 'confirmUpload', conversationId, key: upload.key });
    const sent = await alice.request({
      action: 'send',
      conversationId,
      clientMessageId: 'html-1',
      body: 'a pixel, honest',
      attachment: {
        key: String(upload.key).replace(/^uploads\//, 'conversations/'),
        contentType: 'image/png',
        size: PNG.length,
      },
    });

    // Assess: the policy let it in (its type and size are what was signed); its first bytes did not.
    expect(posted.status).toBe(204);
    expect(confirmed).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(String(confirmed.message)).toContain('first bytes');
    expect((await objectAt(upload, String(upload.key))).status).toBe(404);
    expect(sent).toMatchObject({ type: 'error', code: 'not_found' });
    const history = await alice.request({ action: 'history', conversationId });
    expect(history.messages).toEqual([]);
  });

  it('refuses a message naming a key never uploaded, or a confirmed one with another size or type', async () => {
    // Prepare
    const { alice, conversationId, upload } = await pngUploadUrl();
    await post(upload, PNG);
    const { attachment } = await alice.request({ action: 'confirmUpload', conversationId, key: upload.key });
    const send = (clientMessageId: string, claimed: object) =>
      alice.request({ action: 'send', conversationId, clientMessageId, body: 'x', attachment: claimed });

    // Act
    const neverUploaded = await send('never-1', {
      ...(attachment as Frame),
      key: `conversations/${conversationId}/00000000-0000-4000-8000-000000000000`,
    });
    const otherSize = await send('size-1', { ...(attachment as Frame), size: PNG.length + 1 });
    const otherType = await send('type-1', { ...(attachment as Frame), contentType: 'application/pdf' });

    // Assess
    expect(neverUploaded).toMatchObject({ type: 'error', code: 'not_found' });
    expect(otherSize).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(otherType).toMatchObject({ type: 'error', code: 'invalid_request' });
    const history = await alice.request({ action: 'history', conversationId });
    expect(history.messages).toEqual([]);
  });

  it("deletes a message's object with the message: its download URL is refused and the object is gone", async () => {
    // Prepare
    const { alice, conversationId, upload } = await pngUploadUrl();
    await post(upload, PNG);
    const { attachment } = await alice.request({ action: 'confirmUpload', conversationId, key: upload.key });
    const key = String((attachment as Frame).key);
    const ack = await sendMessage(alice, conversationId, 'pic-1', 'a pixel', { attachment });
    expect((await objectAt(upload, key)).status).toBe(200);

    // Act
    const deleted = await alice.request({ action: 'delete', conversationId, seq: ack.seq });
    const download = await alice.request({ action: 'downloadUrl', conversationId, key });

    // Assess
    expect(deleted).toMatchObject({ type: 'ack', duplicate: false });
    expect(download).toMatchObject({ type: 'error', code: 'not_found' });
    expect((await objectAt(upload, key)).status).toBe(404);
  });

  it('refuses a POST of another type, another size or an extra header field, as S3 holds the policy, and stores nothing', async () => {
    // Prepare
    const { alice, conversationId, upload } = await pngUploadUrl();

    // Act
    const otherType = await post(upload, PNG, { 'Content-Type': 'text/html' });
    const larger = await post(upload, Buffer.concat([PNG, Buffer.from(' ')]));
    const disposition = await post(upload, PNG, { 'Content-Disposition': 'inline' });
    const confirmed = await alice.request({ action: 'confirmUpload', conversationId, key: upload.key });

    // Assess
    expect([otherType.status, larger.status, disposition.status]).toEqual([403, 403, 403]);
    expect(await otherType.text()).toContain('Invalid according to Policy');
    expect(confirmed).toMatchObject({ type: 'error', code: 'not_found' });
  });

  it("answers a page's POST and the presigned GET with the CORS headers, and refuses another site's page", async () => {
    // Prepare
    const { alice, conversationId, upload } = await pngUploadUrl();
    const evil = 'http://evil.example';

    // Act
    const foreign = await post(upload, HTML, {}, evil);
    const posted = await post(upload, PNG, {}, pageOrigin());
    await alice.request({ action: 'confirmUpload', conversationId, key: upload.key });
    const key = String(upload.key).replace(/^uploads\//, 'conversations/');
    const download = await alice.request({ action: 'downloadUrl', conversationId, key });
    const got = await fetch(String(download.url), { headers: { origin: pageOrigin() } });
    const listing = new URL(String(upload.url));
    listing.pathname = '/';
    const list = await fetch(String(listing), { headers: { origin: evil } });

    // Assess
    expect(new URL(String(upload.url)).port).toBe(new URL(runtime().endpoints.s3).port);
    expect(foreign.status).toBe(403);
    expect(posted.status).toBe(204);
    expect(posted.headers.get('access-control-allow-origin')).toBe(pageOrigin());
    expect(got.status).toBe(200);
    expect(got.headers.get('access-control-allow-origin')).toBe(pageOrigin());
    expect(Buffer.from(await got.arrayBuffer())).toEqual(PNG);
    expect(list.status).toBe(403);
  });

  it('refuses a non-member an upload, a confirm or a download URL, and a wrong type, size or foreign key to a member', async () => {
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
    const key = String(upload.key).replace(/^uploads\//, 'conversations/');

    // Act
    const strangerUpload = await mallory.request({
      action: 'uploadUrl',
      conversationId,
      contentType: 'image/png',
      size: 10,
    });
    const strangerConfirm = await mallory.request({
      action: 'confirmUpload',
      conversationId,
      key: upload.key,
    });
    const strangerDownload = await mallory.request({ action: 'downloadUrl', conversationId, key });
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
      attachment: { key, contentType: 'image/png', size: 10 },
    });

    // Assess
    expect(strangerUpload).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(strangerConfirm).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(strangerDownload).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(wrongType).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(tooLarge).toMatchObject({ type: 'error', code: 'payload_too_large' });
    expect(foreignKey).toMatchObject({ type: 'error', code: 'invalid_request' });
    const history = await alice.request({ action: 'history', conversationId: otherConversation });
    expect(history.messages).toEqual([]);
  });
});
