import { describe, expect, it, vi } from 'vitest';
import type { ActivityEvent, MembershipEvent, ReadEvent } from '../../client';
import { harness, settle } from './fakes';

const C = 'c1';
const KEY = `conversations/${C}/00000000-0000-4000-8000-000000000001`;
const UPLOAD_KEY = `uploads/${C}/00000000-0000-4000-8000-000000000001`;

describe('attachments', () => {
  it('asks for an upload URL, POSTs the signed form with the file last, confirms the upload, then sends the confirmed reference', async () => {
    const posts: Array<{ url: string; method: string; fields: [string, string][]; file: string }> = [];
    const answersRead: string[] = [];
    const h = harness({
      fetch: async (url, init) => {
        const entries = [...init.body.entries()];
        const last = entries.at(-1);
        posts.push({
          url,
          method: init.method,
          fields: entries.filter(([name]) => name !== 'file') as [string, string][],
          file:
            last?.[0] === 'file' && last[1] instanceof Blob ? `${last[1].type}:${last[1].size}` : 'not last',
        });
        const text = async () => {
          answersRead.push(url);
          return '';
        };
        return { ok: true, status: 204, text };
      },
    });
    const socket = await h.connectNow();
    const attached = h.chat.attach(C, new Uint8Array([1, 2, 3]), 'image/png');
    await settle();
    const ask = socket.last('uploadUrl');
    expect(ask).toMatchObject({ conversationId: C, contentType: 'image/png', size: 3 });
    const fields = { key: UPLOAD_KEY, 'Content-Type': 'image/png', Policy: 'p', 'X-Amz-Signature': 's' };
    socket.ack(ask, { url: 'http://s3.test/', key: UPLOAD_KEY, method: 'POST', fields, expiresAt: 'x' });
    await settle();
    expect(posts).toEqual([
      { url: 'http://s3.test/', method: 'POST', fields: Object.entries(fields), file: 'image/png:3' },
    ]);
    // Read to its end, or a browser reports the upload as aborted.
    expect(answersRead).toEqual(['http://s3.test/']);
    const confirm = socket.last('confirmUpload');
    expect(confirm).toMatchObject({ conversationId: C, key: UPLOAD_KEY });
    expect(socket.frames('send')).toEqual([]);
    const attachment = { key: KEY, contentType: 'image/png', size: 3 };
    socket.ack(confirm, { attachment });
    await settle();
    const send = socket.last('send');
    expect(send).toMatchObject({ conversationId: C, body: 'image/png', attachment });
    socket.ack(send, { conversationId: C, seq: 1, sentAt: 't', duplicate: false });
    // The earlier answer's fields stay, so code written against it keeps working.
    const { acked, attachment: confirmed, seq } = await attached;
    expect([seq, confirmed]).toEqual([1, attachment]);
    await expect(acked).resolves.toMatchObject({ seq: 1, attachment });
  });

  it("calls the global fetch as a plain function, as a browser's fetch requires (no `this` of the SDK's)", async () => {
    const calls: unknown[] = [];
    vi.stubGlobal('fetch', function browserFetch(this: unknown, url: string) {
      // A browser's fetch throws "Illegal invocation" when called as a method of another object.
      if (this !== undefined && this !== globalThis) throw new TypeError('Illegal invocation');
      calls.push(url);
      return Promise.resolve({ ok: true, status: 204, text: async () => '' });
    });
    try {
      const h = harness();
      const socket = await h.connectNow();
      const attached = h.chat.send(C, 'a picture', {
        file: { data: new Uint8Array([1, 2, 3]), contentType: 'image/png' },
      });
      await settle();
      const ask = socket.last('uploadUrl');
      socket.ack(ask, {
        url: 'http://s3.test/',
        key: UPLOAD_KEY,
        method: 'POST',
        fields: {},
        expiresAt: 'x',
      });
      await settle();
      expect(calls).toEqual(['http://s3.test/']);
      socket.ack(socket.last('confirmUpload'), {
        attachment: { key: KEY, contentType: 'image/png', size: 3 },
      });
      await settle();
      socket.ack(socket.last('send'), { conversationId: C, seq: 1, sentAt: 't', duplicate: false });
      await expect(attached).resolves.toMatchObject({ seq: 1 });
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('sends nothing when the upload fails', async () => {
    const h = harness({ fetch: async () => ({ ok: false, status: 403 }) });
    const socket = await h.connectNow();
    const attached = h.chat.attach(C, new Uint8Array([1]), 'application/pdf', 'the report');
    await settle();
    socket.ack(socket.last('uploadUrl'), {
      url: 'u',
      key: UPLOAD_KEY,
      method: 'POST',
      fields: {},
      expiresAt: 'x',
    });
    await expect(attached).rejects.toThrow(/HTTP 403/);
    expect(socket.frames('confirmUpload')).toEqual([]);
    expect(socket.frames('send')).toEqual([]);
  });

  it('sends nothing when the server refuses the upload at confirmUpload', async () => {
    const h = harness({ fetch: async () => ({ ok: true, status: 204 }) });
    const socket = await h.connectNow();
    const attached = h.chat.attach(C, new Uint8Array([1]), 'image/png');
    await settle();
    socket.ack(socket.last('uploadUrl'), {
      url: 'u',
      key: UPLOAD_KEY,
      method: 'POST',
      fields: {},
      expiresAt: 'x',
    });
    await settle();
    socket.error(socket.last('confirmUpload'), 'invalid_request', {
      message: 'its first bytes are not those of image/png',
    });
    await expect(attached).rejects.toThrow(/first bytes/);
    expect(socket.frames('send')).toEqual([]);
  });

  it('names the S3 error code of a refused upload', async () => {
    const refusal =
      '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Invalid according to Policy</Message></Error>';
    const h = harness({ fetch: async () => ({ ok: false, status: 403, text: async () => refusal }) });
    const socket = await h.connectNow();
    const attached = h.chat.attach(C, new Uint8Array([1]), 'image/png');
    await settle();
    socket.ack(socket.last('uploadUrl'), {
      url: 'u',
      key: UPLOAD_KEY,
      method: 'POST',
      fields: {},
      expiresAt: 'x',
    });
    await expect(attached).rejects.toThrow(
      'The file was not uploaded: the upload failed with HTTP 403 (AccessDenied)',
    );
    expect(socket.frames('send')).toEqual([]);
  });

  it('delivers a pushed message with its attachment, and asks for download URLs', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const stream = h.chat.conversation(C, { afterSeq: 0 });
    const seen: unknown[] = [];
    stream.on('message', (m) => seen.push(m.attachment));
    await settle();
    socket.ack(socket.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 0 });
    await stream.ready;
    const attachment = { key: KEY, contentType: 'image/png', size: 3 };
    socket.receive({
      type: 'message',
      conversationId: C,
      seq: 1,
      senderId: 'bob',
      body: 'b',
      sentAt: 't',
      attachment,
    });
    expect(seen).toEqual([attachment]);
    const url = h.chat.downloadUrl(C, KEY);
    await settle();
    expect(socket.last('downloadUrl')).toMatchObject({ conversationId: C, key: KEY });
    socket.ack(socket.last('downloadUrl'), { url: 'http://s3.test/get', expiresAt: 'x' });
    await expect(url).resolves.toEqual({ url: 'http://s3.test/get', expiresAt: 'x' });
  });
});

describe('membership and receipts', () => {
  it('counts a membership push as a seq and reports it in order; pages too', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const stream = h.chat.conversation(C, { afterSeq: 0 });
    const order: string[] = [];
    stream.on('message', (m) => order.push(`m${m.seq}`));
    stream.on('membership', (e: MembershipEvent) =>
      order.push(`${e.kind}:${e.userIds.join()}@${e.seq} by ${e.by}`),
    );
    await settle();
    socket.ack(socket.last('subscribe'), {
      conversationId: C,
      messages: [
        {
          conversationId: C,
          seq: 1,
          tombstone: true,
          kind: 'member_added',
          userIds: ['carol'],
          by: 'alice',
          at: 'a',
        },
      ],
      hasMore: false,
      lastSeq: 1,
    });
    await stream.ready;
    socket.push(C, 3);
    socket.receive({
      type: 'membership',
      conversationId: C,
      seq: 2,
      event: 'member_left',
      userIds: ['carol'],
      by: 'carol',
      at: 'b',
    });
    expect(order).toEqual(['member_added:carol@1 by alice', 'member_left:carol@2 by carol', 'm3']);
    expect(socket.frames('history')).toEqual([]);
  });

  it('emits a membership change that names you in a conversation this connection does not subscribe to', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const heard: MembershipEvent[] = [];
    h.chat.on('membership', (e) => heard.push(e));

    socket.receive({
      type: 'membership',
      conversationId: 'c9',
      seq: 4,
      event: 'member_added',
      userIds: ['me'],
      by: 'alice',
      at: 't',
    });

    expect(heard).toEqual([
      { conversationId: 'c9', seq: 4, kind: 'member_added', userIds: ['me'], by: 'alice', at: 't' },
    ]);
    expect(socket.frames('subscribe')).toEqual([]);
  });

  it('lists the membership changes of an older page, in order, with its messages', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const stream = h.chat.conversation(C, { backlog: 0 });
    await settle();
    socket.ack(socket.last('subscribe'), { conversationId: C, messages: [], hasMore: false, lastSeq: 4 });
    await stream.ready;
    const older = stream.loadOlder(10);
    await settle();
    expect(socket.last('history')).toMatchObject({ conversationId: C, beforeSeq: 5, limit: 10 });
    const change = { conversationId: C, tombstone: true, userIds: ['dave'], by: 'alice', at: 'a' };
    socket.ack(socket.last('history'), {
      conversationId: C,
      messages: [
        { conversationId: C, seq: 1, senderId: 'alice', body: 'hi', sentAt: 't1' },
        { ...change, seq: 2, kind: 'member_added' },
        { conversationId: C, seq: 3, tombstone: true },
        { ...change, seq: 4, kind: 'member_removed' },
      ],
      hasMore: false,
      lastSeq: 4,
    });
    const page = await older;
    expect(page.messages.map((m) => m.seq)).toEqual([1]);
    expect(page.membership).toEqual([
      { conversationId: C, seq: 2, kind: 'member_added', userIds: ['dave'], by: 'alice', at: 'a' },
      { conversationId: C, seq: 4, kind: 'member_removed', userIds: ['dave'], by: 'alice', at: 'a' },
    ]);
  });

  it('emits activity pushes of conversations not subscribed to, malformed ones ignored', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const activity: ActivityEvent[] = [];
    h.chat.on('activity', (e) => activity.push(e));
    const pushed = { type: 'activity', conversationId: 'other', senderId: 'bob', preview: 'lunch?' };
    socket.receive({ ...pushed, seq: 7, sentAt: 't7' });
    socket.receive({
      ...pushed,
      seq: 8,
      sentAt: 't8',
      preview: 'dot.png',
      truncated: true,
      attachment: { contentType: 'image/png' },
    });
    socket.receive({ ...pushed, seq: '9', sentAt: 't9' });
    socket.receive({ type: 'activity', conversationId: 'other', seq: 10 });
    expect(activity).toEqual([
      { conversationId: 'other', seq: 7, senderId: 'bob', sentAt: 't7', preview: 'lunch?' },
      {
        conversationId: 'other',
        seq: 8,
        senderId: 'bob',
        sentAt: 't8',
        preview: 'dot.png',
        truncated: true,
        attachment: { contentType: 'image/png' },
      },
    ]);
  });

  it('emits read pushes on the client and on the stream', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const stream = h.chat.conversation(C, { afterSeq: 0 });
    const onClient: ReadEvent[] = [];
    const onStream: ReadEvent[] = [];
    h.chat.on('read', (e) => onClient.push(e));
    stream.on('read', (e) => onStream.push(e));
    await settle();
    socket.receive({ type: 'read', conversationId: C, userId: 'bob', seq: 4 });
    socket.receive({ type: 'read', conversationId: C, userId: 'bob' }); // malformed: ignored
    expect(onClient).toEqual([{ conversationId: C, userId: 'bob', seq: 4 }]);
    expect(onStream).toEqual(onClient);
  });

  it('removes a member and leaves; leaving closes the stream', async () => {
    const h = harness();
    const socket = await h.connectNow();
    const removed = h.chat.removeMember(C, 'carol');
    await settle();
    expect(socket.last('removeMember')).toMatchObject({ conversationId: C, userId: 'carol' });
    socket.ack(socket.last('removeMember'), { conversationId: C, userId: 'carol', removed: true, seq: 5 });
    await expect(removed).resolves.toEqual({ conversationId: C, userId: 'carol', removed: true, seq: 5 });

    const stream = h.chat.conversation(C, { afterSeq: 0 });
    const left = h.chat.leave(C);
    await settle();
    socket.ack(socket.last('leave'), { conversationId: C, userId: 'alice', removed: true, seq: 6 });
    await expect(left).resolves.toMatchObject({ removed: true, seq: 6 });
    await expect(stream.ready).rejects.toThrow(/left/);
    expect(h.chat.conversation(C)).not.toBe(stream);
  });
});
