/**
 * Rooms on the web page (issue 17 point 1) in a real browser against the local runtime: one page creates
 * a room, another joins it by its link (opening the link joins and opens it) and both chat; a link room
 * cannot be joined by its id alone; slow mode shows its countdown, and a message sent too soon waits its
 * turn (the SDK resends it when the server allows) and arrives in order. The viewer count moves with the
 * messages pushed, without the page asking; an admin bans and unbans from the Banned panel, and a link
 * room's New link shuts the old one.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { useLocalRuntime } from '../support/local-runtime';
import { PAGE_OPTIONS, patiently, send, useBrowser } from './support';

const { runtime } = useLocalRuntime();
const { browser, pageProblems, signIn } = useBrowser(runtime);

/** A new browser context whose pages count the `roomInfo` requests they send. */
async function countingRoomInfo(): Promise<{ context: BrowserContext; asked: () => number }> {
  let asked = 0;
  const context = await browser().newContext({ ...PAGE_OPTIONS });
  context.on('page', (page) =>
    page.on('websocket', (socket) =>
      socket.on('framesent', ({ payload }) => {
        if (String(payload).includes('"action":"roomInfo"')) asked++;
      }),
    ),
  );
  return { context, asked: () => asked };
}

/** Creates a room with the Rooms form and answers its link, once the room bar shows it. */
async function createRoom(page: Page, title: string, access: 'public' | 'link', slowModeSeconds = 0) {
  await page.getByLabel('Room title').fill(title);
  await page.getByLabel('Who can join').selectOption(access);
  await page
    .getByLabel("Slow mode (seconds between a member's messages; 0: off)")
    .fill(String(slowModeSeconds));
  await page.getByRole('button', { name: 'New room' }).click();
  await page.locator('#conversation-title', { hasText: title }).waitFor();
  await expect.poll(() => page.getByLabel('Room link').inputValue(), patiently).toContain('room=');
  return page.getByLabel('Room link').inputValue();
}

/** The transcript as rendered: `sender: body`, top to bottom. */
function transcript(page: Page): Promise<string[]> {
  return page
    .locator('#messages > li')
    .evaluateAll((rows) =>
      rows.map((row) => `${row.dataset.sender}: ${row.querySelector('.body')?.textContent}`),
    );
}

describe('rooms on the web page', () => {
  it('creates a public room; another page opens its link, joins, sees the viewer count, and both chat', async () => {
    // Prepare
    const counted = await countingRoomInfo();
    const rae = await signIn('rae', counted.context);
    const link = await createRoom(rae, 'Launch 🚀', 'public');
    const askedBefore = counted.asked();
    const sam = await signIn('sam');

    // Act: sam opens the link in his tab; both send.
    await sam.goto(link);
    await sam.locator('#conversation-title', { hasText: 'Launch 🚀' }).waitFor();
    await send(rae, 'welcome, everyone');
    await sam.locator('#messages > li', { hasText: 'welcome, everyone' }).waitFor(patiently);
    await send(sam, 'glad to be here 🎉');
    await rae.locator('#messages > li', { hasText: 'glad to be here 🎉' }).waitFor(patiently);

    // Assess: rae's count moved with sam's message, without asking.
    await expect.poll(() => rae.locator('#room-viewers').textContent(), patiently).toBe('2 viewers');
    expect(counted.asked()).toBe(askedBefore);
    await expect.poll(() => sam.locator('#room-viewers').textContent(), patiently).toBe('2 viewers');
    expect(new URL(sam.url()).searchParams.has('room')).toBe(false); // a reload does not join again
    expect(await sam.locator('#members-toggle').isHidden()).toBe(true);
    expect(await sam.locator('#room-slow-mode-form').isHidden()).toBe(true); // admins only
    expect(await rae.locator('#room-slow-mode-form').isVisible()).toBe(true);
    expect(await sam.locator('#conversation-list .room-tag').first().textContent()).toMatch(/^room/);
    expect(await transcript(sam)).toEqual(['rae: welcome, everyone', 'sam: glad to be here 🎉']);
    expect(pageProblems).toEqual([]);
  });

  it('joins a link room only with its link, and makes a message sent too soon in slow mode wait its turn', async () => {
    // Prepare
    const ola = await signIn('ola');
    const link = await createRoom(ola, 'Backstage', 'link', 4);
    const roomId = new URL(link).searchParams.get('room') ?? '';
    const pia = await signIn('pia');

    // Act 1: pia tries the bare id, then pastes the link.
    await pia.getByLabel('Join a room (its id or its link)').fill(roomId);
    await pia.getByRole('button', { name: 'Join', exact: true }).click();
    await expect
      .poll(() => pia.locator('#room-join-error').textContent(), patiently)
      .toContain('ask an admin');
    await pia.getByLabel('Join a room (its id or its link)').fill(link);
    await pia.getByRole('button', { name: 'Join', exact: true }).click();
    await pia.locator('#conversation-title', { hasText: 'Backstage' }).waitFor();

    // Act 2: two messages at once in a 4 s slow mode.
    await send(pia, 'first');
    await pia.locator('#messages > li', { hasText: 'first' }).waitFor(patiently);
    await send(pia, 'second');

    // Assess 2: the second waits, with a countdown, then goes; ola sees both, in order.
    await expect
      .poll(() => pia.locator('#room-slow-mode-line').textContent(), patiently)
      .toMatch(/Slow mode: your next message goes out in \d seconds?\./);
    expect(await pia.locator('#outbox > li', { hasText: 'second' }).getAttribute('data-status')).toBe(
      'pending',
    );
    await ola.locator('#messages > li', { hasText: 'second' }).waitFor(patiently);
    expect(await transcript(ola)).toEqual(['pia: first', 'pia: second']);
    expect(await pia.locator('#room-slow-mode-line').textContent()).toMatch(
      /Slow mode: you can send again in/,
    );
    expect(pageProblems).toEqual([]);
  });

  it("lets a room's admin ban and unban from the Banned panel, and give a link room a new link that shuts the old one", async () => {
    // Prepare: uma's link room, which vin joins by its link.
    const uma = await signIn('uma');
    const oldLink = await createRoom(uma, 'Green room', 'link');
    const vin = await signIn('vin');
    await vin.goto(oldLink);
    await vin.locator('#conversation-title', { hasText: 'Green room' }).waitFor();

    // Act 1: uma bans vin from the panel; vin's link no longer lets him in.
    await uma.getByText('Banned', { exact: true }).click();
    await uma.locator('#room-banned-empty').waitFor();
    await uma.getByLabel('Ban a user').fill('uma');
    await uma.getByRole('button', { name: 'Ban', exact: true }).click();
    const selfBan = await uma.locator('#conversation-error').textContent();
    await uma.getByLabel('Ban a user').fill('vin');
    await uma.getByRole('button', { name: 'Ban', exact: true }).click();
    await uma.locator('#room-banned > li[data-user="vin"]').waitFor(patiently);
    await expect
      .poll(() => vin.locator('#conversation-error').textContent(), patiently)
      .toBe('uma removed you from this conversation.');
    await vin.getByLabel('Join a room (its id or its link)').fill(oldLink);
    await vin.getByRole('button', { name: 'Join', exact: true }).click();
    await expect.poll(() => vin.locator('#room-join-error').textContent(), patiently).not.toBe('');
    const bannedWords = await vin.locator('#room-join-error').textContent();

    // Act 2: uma lifts the ban, then makes a new link; vin tries the old one, then the new one.
    await uma.locator('#room-banned > li[data-user="vin"]').getByRole('button', { name: 'Unban' }).click();
    await uma.locator('#room-banned-empty').waitFor(patiently);
    await uma.getByRole('button', { name: 'New link' }).click();
    await expect.poll(() => uma.getByLabel('Room link').inputValue(), patiently).not.toBe(oldLink);
    const newLink = await uma.getByLabel('Room link').inputValue();
    await vin.getByLabel('Join a room (its id or its link)').fill(oldLink);
    await vin.getByRole('button', { name: 'Join', exact: true }).click();
    await expect
      .poll(() => vin.locator('#room-join-error').textContent(), patiently)
      .toContain('ask an admin');
    await vin.getByLabel('Join a room (its id or its link)').fill(newLink);
    await vin.getByRole('button', { name: 'Join', exact: true }).click();

    // Assess
    await expect.poll(() => vin.locator('#room-join-error').textContent(), patiently).toBe('');
    await send(vin, 'back, by the new link');
    await uma.locator('#messages > li', { hasText: 'back, by the new link' }).waitFor(patiently);
    expect(bannedWords).toBe('An admin of this room banned you: only an admin can lift the ban.');
    expect(selfBan).toBe('You cannot ban yourself; Leave leaves the room.');
    expect(new URL(newLink).searchParams.get('room')).toBe(new URL(oldLink).searchParams.get('room'));
    expect(await vin.locator('#room-moderation').isHidden()).toBe(true); // admins only
    expect(await vin.locator('#room-new-link').isHidden()).toBe(true);
    expect(pageProblems).toEqual([]);
  });
});
