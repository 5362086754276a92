/**
 * A message beyond its subscribers, on the local runtime: a member with no connection is named on the
 * offline bus (the EventBridge stand-in records what the fan-out put, through the real SDK client), and
 * a connected member who subscribed to nothing gets an `activity` frame.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { OFFLINE_DETAIL_TYPE, OFFLINE_EVENT_SOURCE } from '../../lambdas/fanout/offline';
import { useLocalRuntime } from '../support/local-runtime';
import { connectAs, createConversation, letAnyoneAdd, sendMessage } from './helpers';

const { runtime, track } = useLocalRuntime();
// Not a test of consent: the users these tests add to groups let anyone add them.
beforeAll(() => letAnyoneAdd(runtime(), ['bob', 'carol', 'dave']));

describe('a message beyond its subscribers', () => {
  it('names bob, who has no connection, on the offline bus, and tells carol, who subscribed to nothing, of the activity', async () => {
    // Prepare: alice and carol are connected; only alice subscribes; bob never connects.
    const alice = await track(connectAs(runtime(), 'alice'));
    const carol = await track(connectAs(runtime(), 'carol'));
    const conversationId = await createConversation(alice, ['bob', 'carol']);
    await alice.request({ action: 'subscribe', conversationId });

    // Act
    const ack = await sendMessage(alice, conversationId, 'm1', 'are you there, bob?');

    // Assess
    expect(ack).toMatchObject({ type: 'ack', seq: 1 });
    await expect
      .poll(() => carol.frames.filter((frame) => frame.type === 'activity'), { timeout: 10_000 })
      .toEqual([
        {
          type: 'activity',
          conversationId,
          seq: 1,
          senderId: 'alice',
          sentAt: expect.any(String),
          preview: 'are you there, bob?',
        },
      ]);
    await expect
      .poll(() => runtime().eventBus.events.map((event) => event.detail), { timeout: 10_000 })
      .toEqual([
        {
          userId: 'bob',
          conversationId,
          seq: 1,
          senderId: 'alice',
          sentAt: expect.any(String),
          preview: 'are you there, bob?',
        },
      ]);
    expect(runtime().eventBus.events[0]).toMatchObject({
      eventBusName: runtime().eventBus.name,
      source: OFFLINE_EVENT_SOURCE,
      detailType: OFFLINE_DETAIL_TYPE,
    });
    expect(alice.frames.filter((frame) => frame.type === 'activity')).toEqual([]);
    expect(carol.messages(conversationId)).toEqual([]);
    const listed = (await (await fetch(`${runtime().controlUrl}/events`)).json()) as { events: unknown[] };
    expect(listed.events).toEqual(JSON.parse(JSON.stringify(runtime().eventBus.events)));
  });

  it("tells a member's tab that shows another conversation, while their other tab has this one open", async () => {
    // Prepare: dave's first tab subscribes to the conversation; his second tab subscribes to nothing.
    const erin = await track(connectAs(runtime(), 'erin'));
    const daveHere = await track(connectAs(runtime(), 'dave'));
    const daveElsewhere = await track(connectAs(runtime(), 'dave'));
    const conversationId = await createConversation(erin, ['dave']);
    await daveHere.request({ action: 'subscribe', conversationId });

    // Act
    await sendMessage(erin, conversationId, 'e1', 'lunch?');

    // Assess: the open tab gets the message, the other one the activity, and nobody is named offline.
    await expect.poll(() => daveHere.messages(conversationId), { timeout: 10_000 }).toHaveLength(1);
    await expect
      .poll(() => daveElsewhere.frames.filter((frame) => frame.type === 'activity'), { timeout: 10_000 })
      .toMatchObject([{ type: 'activity', conversationId, seq: 1, senderId: 'erin', preview: 'lunch?' }]);
    expect(daveHere.frames.filter((frame) => frame.type === 'activity')).toEqual([]);
    const named = runtime().eventBus.events.filter(
      (event) => (event.detail as { conversationId?: string }).conversationId === conversationId,
    );
    expect(named).toEqual([]);
  });
});
