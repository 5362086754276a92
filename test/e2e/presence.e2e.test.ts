import { beforeAll, describe, expect, it } from 'vitest';
import { drain } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';
import type { ChatClient, Frame } from './chat-client';
import { connectAs, connectWithId, createConversation, letAnyoneAdd, sendMessage } from './helpers';

/** The emulator's log: one line per invocation, `DISCONNECT <id> …` once a `$disconnect` has run. */
const log: string[] = [];
const { runtime, track } = useLocalRuntime({ onLog: (line) => log.push(line) });
// Not a test of consent: the users these tests add to groups let anyone add them.
beforeAll(() => letAnyoneAdd(runtime(), ['ted', 'pete', 'paul', 'ron', 'rudi', 'oscar', 'tess', 'rex']));

const pushed = (client: ChatClient, type: string): Frame[] =>
  client.frames.filter((frame) => frame.type === type);

/** Closes a connection and waits until its `$disconnect` has finished, announcements included. */
async function closeAndSettle(client: ChatClient, connectionId: string): Promise<void> {
  await client.close();
  await expect
    .poll(() => log.some((line) => line.startsWith(`DISCONNECT ${connectionId} `)), { timeout: 10_000 })
    .toBe(true);
}

describe('typing', () => {
  it('reaches the other subscriber as a typing frame, stores nothing, and throttles a second one within 3 s', async () => {
    // Prepare
    const tina = await track(connectAs(runtime(), 'tina'));
    const ted = await track(connectAs(runtime(), 'ted'));
    const conversationId = await createConversation(tina, ['ted']);
    await tina.request({ action: 'subscribe', conversationId });
    await ted.request({ action: 'subscribe', conversationId });

    // Act
    const first = await tina.request({ action: 'typing', conversationId });
    const second = await tina.request({ action: 'typing', conversationId });
    await drain(ted);

    // Assess
    expect(first).toMatchObject({ type: 'ack', action: 'typing', conversationId, throttled: false });
    expect(second).toMatchObject({ type: 'ack', action: 'typing', conversationId, throttled: true });
    expect(pushed(ted, 'typing')).toEqual([{ type: 'typing', conversationId, userId: 'tina' }]);
    expect(pushed(tina, 'typing')).toEqual([]);
    expect(ted.messages(conversationId)).toEqual([]);
    const history = await ted.request({ action: 'history', conversationId });
    expect(history).toMatchObject({ type: 'ack', messages: [], lastSeq: 0 });
  });

  it('is refused to a non-member, whom nothing reaches', async () => {
    // Prepare
    const tina = await track(connectAs(runtime(), 'tina'));
    const mallory = await track(connectAs(runtime(), 'mallory'));
    const conversationId = await createConversation(tina, ['ted']);
    await tina.request({ action: 'subscribe', conversationId });

    // Act
    const reply = await mallory.request({ action: 'typing', conversationId });
    await drain(tina);

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(pushed(tina, 'typing')).toEqual([]);
  });
});

describe('presence', () => {
  it('lists the members who have a live connection', async () => {
    // Prepare: paul is a member and has never connected.
    const pia = await track(connectAs(runtime(), 'pia'));
    await track(connectAs(runtime(), 'pete'));
    const conversationId = await createConversation(pia, ['pete', 'paul']);

    // Act
    const reply = await pia.request({ action: 'presence', conversationId });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', action: 'presence', conversationId });
    expect(reply.online).toEqual(['pete', 'pia']);
  });

  it("answers each member's stored read cursor, so receipts survive a reload", async () => {
    // Prepare: rita writes twice; ron reads the first, then reads the second from another connection.
    const rita = await track(connectAs(runtime(), 'rita'));
    const ron = await track(connectAs(runtime(), 'ron'));
    const conversationId = await createConversation(rita, ['ron', 'rudi']);
    await sendMessage(rita, conversationId, 'r-1', 'one');
    await sendMessage(rita, conversationId, 'r-2', 'two');
    await ron.request({ action: 'read', conversationId, seq: 1 });
    await ron.request({ action: 'read', conversationId, seq: 2 });

    // Act: a fresh connection of rita, as after a reload.
    const reloaded = await track(connectAs(runtime(), 'rita'));
    const reply = await reloaded.request({ action: 'presence', conversationId });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', action: 'presence', conversationId });
    expect(reply.readSeqs).toEqual([
      { userId: 'rita', readSeq: 0 },
      { userId: 'ron', readSeq: 2 },
      { userId: 'rudi', readSeq: 0 },
    ]);
  });

  it('announces a user online when their first connection subscribes, and offline when their last one closes', async () => {
    // Prepare
    const oscar = await track(connectAs(runtime(), 'oscar'));
    const tab1 = await connectWithId(runtime(), 'olga');
    const tab2 = await connectWithId(runtime(), 'olga');
    track(tab1.client);
    track(tab2.client);
    const [olgaTab1, olgaTab2] = [tab1.client, tab2.client];
    const conversationId = await createConversation(olgaTab1, ['oscar']);
    await oscar.request({ action: 'subscribe', conversationId });

    // Act: olga's first tab subscribes, then her second; then both close, one after the other.
    await olgaTab1.request({ action: 'subscribe', conversationId });
    await olgaTab2.request({ action: 'subscribe', conversationId });
    await drain(oscar);
    const afterSubscribes = pushed(oscar, 'presence');
    await closeAndSettle(olgaTab1, tab1.connectionId);
    await drain(oscar);
    const afterFirstClose = pushed(oscar, 'presence');
    const whileTab2Open = await oscar.request({ action: 'presence', conversationId });
    await closeAndSettle(olgaTab2, tab2.connectionId);
    await drain(oscar);

    // Assess
    expect(afterSubscribes).toEqual([{ type: 'presence', userId: 'olga', online: true }]);
    expect(afterFirstClose).toEqual(afterSubscribes);
    expect(whileTab2Open.online).toEqual(['olga', 'oscar']);
    expect(pushed(oscar, 'presence')).toEqual([
      { type: 'presence', userId: 'olga', online: true },
      { type: 'presence', userId: 'olga', online: false },
    ]);
    const reply = await oscar.request({ action: 'presence', conversationId });
    expect(reply.online).toEqual(['oscar']);
  });

  it('announces a user online when their first connection opens, before it subscribes to anything', async () => {
    // Prepare: sam listens to his conversation with tess, who is not connected.
    const sam = await track(connectAs(runtime(), 'sam'));
    const conversationId = await createConversation(sam, ['tess']);
    await sam.request({ action: 'subscribe', conversationId });

    // Act: tess opens the app (a connection that subscribes to nothing), then closes it.
    const tess = await connectWithId(runtime(), 'tess');
    track(tess.client);
    await expect
      .poll(() => pushed(sam, 'presence'), { timeout: 10_000 })
      .toEqual([{ type: 'presence', userId: 'tess', online: true }]);
    await closeAndSettle(tess.client, tess.connectionId);
    await drain(sam);

    // Assess
    expect(pushed(sam, 'presence')).toEqual([
      { type: 'presence', userId: 'tess', online: true },
      { type: 'presence', userId: 'tess', online: false },
    ]);
  });

  it('announces a user offline where their first-closed tab listened, when their last tab closes elsewhere', async () => {
    // Prepare: quinn's first tab listens to one conversation, her second tab to another.
    const paul = await track(connectAs(runtime(), 'paul'));
    const tab1 = await connectWithId(runtime(), 'quinn');
    const tab2 = await connectWithId(runtime(), 'quinn');
    track(tab1.client);
    track(tab2.client);
    const withPaul = await createConversation(tab1.client, ['paul']);
    const elsewhere = await createConversation(tab2.client, ['rex']);
    await paul.request({ action: 'subscribe', conversationId: withPaul });
    await tab1.client.request({ action: 'subscribe', conversationId: withPaul });
    await tab2.client.request({ action: 'subscribe', conversationId: elsewhere });

    // Act: the tab paul shares a conversation with closes first, then the other one.
    await closeAndSettle(tab1.client, tab1.connectionId);
    await drain(paul);
    const whileTab2Open = pushed(paul, 'presence');
    await closeAndSettle(tab2.client, tab2.connectionId);
    await drain(paul);

    // Assess
    expect(whileTab2Open).toEqual([{ type: 'presence', userId: 'quinn', online: true }]);
    expect(pushed(paul, 'presence')).toEqual([
      { type: 'presence', userId: 'quinn', online: true },
      { type: 'presence', userId: 'quinn', online: false },
    ]);
  });
});
