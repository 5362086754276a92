/**
 * What the web page tells its reader: refusals in human words that clear when they no longer apply, a
 * marker for new messages below a reader scrolled up, a list preview that follows the open conversation,
 * presence that is not guessed while offline, and buttons readable in dark mode.
 */
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ChatClient } from '../../client';
import { letAnyoneAdd } from '../e2e/helpers';
import { useLocalRuntime } from '../support/local-runtime';
import { createConversation, patiently, send, useBrowser } from './support';

const { runtime } = useLocalRuntime();
const { browser, signIn, clientOf } = useBrowser(runtime);

beforeAll(() => letAnyoneAdd(runtime(), ['vic', 'wes', 'yan']));

/** Runs `act` with a connected SDK client of `userId`, closed after. */
async function withClient<T>(userId: string, act: (chat: ChatClient) => Promise<T>): Promise<T> {
  const chat = clientOf(userId);
  try {
    return await act(chat);
  } finally {
    chat.close();
  }
}

/** Where the transcript is scrolled: its top, and how far its end is below the view. */
const scrollOf = (page: Page): Promise<{ top: number; below: number }> =>
  page
    .locator('#message-scroller')
    .evaluate((s) => ({ top: s.scrollTop, below: s.scrollHeight - s.scrollTop - s.clientHeight }));

/** The list entry of a conversation: its preview line. */
const previewOf = (page: Page, conversationId: string): Promise<string | null> =>
  page.locator(`#conversation-list button[data-conversation-id="${conversationId}"] .preview`).textContent();

describe('refusals in words', () => {
  it('words a refused create without raw validation text, and the line clears after the next success', async () => {
    // Prepare
    const page = await signIn('uma');

    // Act: a group with nobody but herself.
    await page.getByLabel('Members (user ids, comma-separated)').fill('uma');
    await page.getByRole('button', { name: 'Create' }).click();

    // Assess: a sentence, no schema text, no code.
    const error = page.locator('#create-error');
    await expect.poll(() => error.textContent(), patiently).not.toBe('');
    const words = (await error.textContent()) ?? '';
    expect(words).toBe(
      'Those names are not valid user ids (letters, digits, - and _), or no one else was named.',
    );
    expect(words).not.toMatch(/Too small|invalid_request|expected array/);

    // Act: a direct conversation opens.
    await page.getByLabel('Message a user (direct)').fill('vic');
    await page.getByRole('button', { name: 'Message', exact: true }).click();
    await page.locator('#conversation-id:not(:empty)').waitFor();

    // Assess: the old error no longer applies, so it is gone.
    await expect.poll(() => error.textContent(), patiently).toBe('');
  });
});

describe('new messages below a reader scrolled up', () => {
  it('shows "N new messages ↓" and keeps the view where the reader is; the marker scrolls down and goes', async () => {
    // Prepare: a long conversation, open on wes's page and scrolled to its top.
    const page = await signIn('wes');
    const conversationId = await createConversation(page, 'vic', 'Long read');
    await withClient('vic', async (vic) => {
      for (let i = 1; i <= 30; i++) await vic.send(conversationId, `line ${i}`).acked;
    });
    await expect.poll(() => page.locator('#messages > li').count(), patiently).toBe(30);
    await page.locator('#message-scroller').evaluate((s) => {
      s.scrollTop = 0;
    });

    // Act: three more arrive.
    await withClient('vic', async (vic) => {
      for (let i = 31; i <= 33; i++) await vic.send(conversationId, `line ${i}`).acked;
    });

    // Assess: the marker counts them, and the reader's place did not move.
    const marker = page.locator('#new-messages');
    await expect.poll(() => marker.textContent(), patiently).toBe('3 new messages ↓');
    expect(await marker.isVisible()).toBe(true);
    expect((await scrollOf(page)).top).toBe(0);

    // Act: the reader clicks it.
    await marker.click();

    // Assess: at the newest message, no marker.
    await expect.poll(async () => (await scrollOf(page)).below, patiently).toBeLessThan(48);
    expect(await marker.isHidden()).toBe(true);
  });
});

describe('the list preview of the open conversation', () => {
  it("follows its newest message, the reader's own included", async () => {
    // Prepare
    const page = await signIn('yan');
    const conversationId = await createConversation(page, 'vic', 'Previews');

    // Act 1: vic writes while the conversation is open.
    await withClient('vic', (vic) => vic.send(conversationId, 'from vic').acked);

    // Assess 1
    await expect.poll(() => previewOf(page, conversationId), patiently).toBe('vic: from vic');

    // Act 2: yan answers.
    await send(page, 'from yan');

    // Assess 2
    await expect.poll(() => previewOf(page, conversationId), patiently).toBe('you: from yan');
  });
});

describe("others' presence while one's own connection is down", () => {
  it('greys the dots while offline and shows them again when back', async () => {
    // Prepare: vic is online; zed's page shows it.
    const page = await signIn('zed');
    await createConversation(page, 'vic', 'Presence');
    const vic = clientOf('vic');
    try {
      await vic.listConversations();
      const dot = page.locator('#conversation-presence .member[data-user="vic"]');
      await expect.poll(() => dot.getAttribute('data-online'), patiently).toBe('true');

      // Act: zed's page loses its network.
      await page.context().setOffline(true);

      // Assess: vic is not shown online by a page that cannot know.
      await expect.poll(() => dot.getAttribute('data-online'), patiently).toBe('unknown');

      // Act: back.
      await page.context().setOffline(false);

      // Assess
      await expect.poll(() => dot.getAttribute('data-online'), patiently).toBe('true');
    } finally {
      vic.close();
    }
  });
});

/** WCAG relative luminance of a computed `rgb(r, g, b)` colour. */
function luminance(color: string): number {
  const channels = (color.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
  const [r = 0, g = 0, b = 0] = channels.map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The WCAG contrast ratio of two colours. */
function contrast(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

describe('dark mode', () => {
  it('gives the buttons text with AA contrast (4.5:1) on their background', async () => {
    // Prepare
    const context = await browser().newContext({ colorScheme: 'dark' });
    const page = await context.newPage();
    await page.goto(runtime().webUrl);

    // Act: the computed colours of the Sign in button.
    await page.locator('#sign-in-button').waitFor();
    const { color, background } = await page.evaluate<{ color: string; background: string }>(
      `(() => { const style = getComputedStyle(document.getElementById('sign-in-button'));
        return { color: style.color, background: style.backgroundColor }; })()`,
    );

    // Assess
    expect(contrast(color, background), `${color} on ${background}`).toBeGreaterThanOrEqual(4.5);
    await context.close();
  });
});
