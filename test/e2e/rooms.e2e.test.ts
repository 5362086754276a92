/**
 * Rooms through the local runtime (docs/rooms.md): more members than a group may have, messages in
 * seq order to every subscriber, history and resume, slow mode, moderation, and a link room's code.
 */
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { useLocalRuntime } from '../support/local-runtime';
import { type ChatClient, type Frame, range } from './chat-client';
import { connectAs, sendMessage } from './helpers';

const { runtime, track } = useLocalRuntime();

/** More members than a group may hold, the creator included. */
const VIEWERS = LIMITS.maxGroupSize + 5;
/** The viewers who stay connected and subscribed. */
const LISTENERS = 20;
/** Connections opened at once while the audience joins. */
const JOINING_AT_ONCE = 15;

async function createRoom(client: ChatClient, fields: Record<string, unknown>): Promise<Frame> {
  const reply = await client.request({ action: 'createRoom', title: 'Launch', ...fields });
  if (reply.type !== 'ack') throw new Error(`createRoom failed: ${JSON.stringify(reply)}`);
  return reply.room as Frame;
}

/** Connects `userId`, joins the room, and keeps the connection open only when `stay`. */
async function join(userId: string, conversationId: string, stay: boolean): Promise<ChatClient | undefined> {
  const client = await connectAs(runtime(), userId);
  const reply = await client.request({ action: 'joinRoom', conversationId });
  expect(reply).toMatchObject({ type: 'ack', joined: true });
  if (stay) return track(client);
  await client.close();
  return undefined;
}

describe('rooms through the local runtime', () => {
  it('holds more members than a group, delivers every message to every listener, and keeps history, resume, idempotency, slow mode and moderation', async () => {
    // Prepare: alice opens a public room and its audience joins.
    const alice = await track(connectAs(runtime(), 'alice'));
    const room = await createRoom(alice, { access: 'public' });
    const conversationId = String(room.conversationId);
    const viewers = range(VIEWERS).map((n) => `viewer-${n}`);
    const listeners: ChatClient[] = [];
    for (let start = 0; start < viewers.length; start += JOINING_AT_ONCE) {
      const batch = viewers.slice(start, start + JOINING_AT_ONCE);
      const joined = await Promise.all(
        batch.map((userId, i) => join(userId, conversationId, start + i < LISTENERS)),
      );
      for (const client of joined) if (client !== undefined) listeners.push(client);
    }
    for (const client of [alice, ...listeners]) {
      expect(await client.request({ action: 'subscribe', conversationId })).toMatchObject({
        type: 'ack',
        memberCount: VIEWERS + 1,
      });
    }
    const [first, second, late] = listeners as [ChatClient, ChatClient, ChatClient];

    // Act: three senders at once, each sending five messages one after the other (as the SDK's outbox does).
    const senders: [ChatClient, string][] = [
      [alice, 'a'],
      [first, 'f'],
      [second, 's'],
    ];
    const sent = await Promise.all(
      senders.map(async ([client, tag]) => {
        const acks: Frame[] = [];
        for (const n of range(5))
          acks.push(await sendMessage(client, conversationId, `${tag}-${n}`, `${tag} ${n}`));
        return acks;
      }),
    );
    const acks = sent.flat();
    const resent = await sendMessage(first, conversationId, 'f-1', 'f 1');
    const info = await second.request({ action: 'roomInfo', conversationId });

    // Assess: every listener has seqs 1..15 (what the SDK shows, ordered by seq), and each sender's
    // messages arrived in the order they were sent (concurrent senders interleave on the queue).
    expect(acks.every((ack) => ack.type === 'ack')).toBe(true);
    expect(resent).toMatchObject({ type: 'ack', duplicate: true, seq: acks[5]?.seq });
    expect(info).toMatchObject({
      type: 'ack',
      room: { memberCount: VIEWERS + 1, role: 'member', access: 'public' },
    });
    for (const client of [alice, ...listeners]) {
      await expect.poll(() => client.seqs(conversationId), { timeout: 30_000 }).toEqual(range(15));
      for (const [sender, tag] of senders) {
        if (sender === client) continue;
        const bodies = client.messages(conversationId).map((frame) => String(frame.body));
        expect(bodies.filter((body) => body.startsWith(`${tag} `))).toEqual(
          range(5).map((n) => `${tag} ${n}`),
        );
      }
    }
    const history = await late.request({ action: 'history', conversationId });
    expect((history.messages as Frame[]).map((entry) => entry.seq)).toEqual(range(15));
    const resumed = await track(connectAs(runtime(), 'viewer-3'));
    const backlog = await resumed.request({ action: 'subscribe', conversationId, afterSeq: 10 });
    expect((backlog.messages as Frame[]).map((entry) => entry.seq)).toEqual([11, 12, 13, 14, 15]);
    // No join took a seq: the room's order holds its messages alone.
    expect(history.lastSeq).toBe(15);

    // Act: slow mode, set by the admin; a member may not set it.
    const refusedSetting = await first.request({
      action: 'setSlowMode',
      conversationId,
      slowModeSeconds: 60,
    });
    const setting = await alice.request({ action: 'setSlowMode', conversationId, slowModeSeconds: 60 });
    const firstPost = await first.request({
      action: 'send',
      conversationId,
      clientMessageId: 'slow-1',
      body: 'one',
    });
    const secondPost = await first.request({
      action: 'send',
      conversationId,
      clientMessageId: 'slow-2',
      body: 'two',
    });
    const samePostAgain = await first.request({
      action: 'send',
      conversationId,
      clientMessageId: 'slow-1',
      body: 'one',
    });

    // Assess
    expect(refusedSetting).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(setting).toMatchObject({ type: 'ack', room: { slowModeSeconds: 60 } });
    expect(firstPost).toMatchObject({ type: 'ack', seq: 16 });
    expect(secondPost).toMatchObject({ type: 'error', code: 'rate_limited', retryable: true });
    expect(secondPost.message).toContain('Slow mode');
    expect(Number(secondPost.retryAfterMs)).toBeGreaterThan(50_000);
    expect(samePostAgain).toMatchObject({ type: 'ack', seq: 16, duplicate: true });

    // Act: the admin moderates; a member may not delete another's message.
    const memberDeletes = await second.request({ action: 'delete', conversationId, seq: 16 });
    const moderatorDeletes = await alice.request({ action: 'delete', conversationId, seq: 16 });

    // Assess
    expect(memberDeletes).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(moderatorDeletes).toMatchObject({ type: 'ack', seq: 16, duplicate: false });
    await expect
      .poll(() => late.pushes().some((frame) => frame.type === 'deleted' && frame.seq === 16), {
        timeout: 15_000,
      })
      .toBe(true);
    const afterDelete = await late.request({ action: 'history', conversationId });
    expect((afterDelete.messages as Frame[]).at(-1)).toMatchObject({
      seq: 16,
      deleted: true,
      senderId: 'viewer-1',
    });

    // Act: leaving takes the member out of the count, and out of the list.
    const left = await late.request({ action: 'leave', conversationId });
    const list = await second.request({ action: 'listConversations' });

    // Assess
    expect(left).toEqual({
      type: 'ack',
      action: 'leave',
      requestId: left.requestId,
      conversationId,
      userId: 'viewer-3',
      removed: true,
    });
    expect((await alice.request({ action: 'roomInfo', conversationId })).room).toMatchObject({
      memberCount: VIEWERS,
    });
    expect(list.conversations).toEqual([
      expect.objectContaining({ conversationId, kind: 'room', title: 'Launch' }),
    ]);

    // Act: alice makes viewer-1 a moderator, who removes viewer-2 for good.
    const promoted = await alice.request({ action: 'promote', conversationId, userId: 'viewer-1' });
    const removal = await first.request({ action: 'removeMember', conversationId, userId: 'viewer-2' });
    const removedSends = await second.request({
      action: 'send',
      conversationId,
      clientMessageId: 'after-removal',
      body: 'still here?',
    });
    const rejoin = await second.request({ action: 'joinRoom', conversationId });

    // Assess
    expect(promoted).toMatchObject({ type: 'ack', promoted: true });
    expect(removal).toMatchObject({ type: 'ack', userId: 'viewer-2', removed: true });
    expect(removedSends).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(rejoin).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: expect.stringContaining('An admin removed you'),
    });
  }, 180_000);

  it('lets into a link room only who holds its code', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'alice'));
    const bob = await track(connectAs(runtime(), 'bob'));
    const room = await createRoom(alice, { access: 'link' });
    const conversationId = String(room.conversationId);

    // Act
    const withoutCode = await bob.request({ action: 'joinRoom', conversationId });
    const wrongCode = await bob.request({ action: 'joinRoom', conversationId, code: 'x'.repeat(22) });
    const peek = await bob.request({ action: 'roomInfo', conversationId });
    const subscribe = await bob.request({ action: 'subscribe', conversationId });
    const withCode = await bob.request({ action: 'joinRoom', conversationId, code: room.inviteCode });
    const again = await bob.request({ action: 'joinRoom', conversationId, code: room.inviteCode });

    // Assess
    expect(room.inviteCode).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(withoutCode).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(wrongCode).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: expect.stringContaining('invite code'),
    });
    expect(peek).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(subscribe).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(withCode).toMatchObject({ type: 'ack', joined: true, room: { role: 'member', memberCount: 2 } });
    expect((withCode.room as Frame).inviteCode).toBeUndefined();
    expect(again).toMatchObject({ type: 'ack', joined: false });
  }, 60_000);
});
