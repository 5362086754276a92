/**
 * The web page keeps what is typed in the order typed (an attachment included), names a conversation the
 * same way for every member, and shows a group to those added at its creation as soon as it exists.
 */
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { letAnyoneAdd } from '../e2e/helpers';
import { useLocalRuntime } from '../support/local-runtime';
import { createConversation, patiently, send, useBrowser } from './support';

const { runtime } = useLocalRuntime();
const { signIn, clientOf } = useBrowser(runtime);

beforeAll(() => letAnyoneAdd(runtime(), ['bea', 'cid', 'dov', 'eli']));

/** An 8×8 blue PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR4nGPQqLiDFTEMLQkA8eRfATA3bycAAAAASUVORK5CYII=',
  'base64',
);

/** The conversation's messages as the server stores them: `seq body` (📎 for an attachment). */
async function stored(userId: string, conversationId: string): Promise<string[]> {
  const chat = clientOf(userId);
  try {
    const { messages } = await chat.history(conversationId, { limit: LIMITS.maxPageSize });
    return messages.map((m) => `${m.seq} ${m.attachment ? '📎 ' : ''}${m.body}`);
  } finally {
    chat.close();
  }
}

/** The name the page's list gives a conversation. */
const listedName = (page: Page, conversationId: string): Promise<string | null> =>
  page.locator(`#conversation-list button[data-conversation-id="${conversationId}"] .title`).textContent();

describe('order', () => {
  it('stores a picture before the text typed after it, although the picture uploads first', async () => {
    // Prepare
    const page = await signIn('ada');
    const conversationId = await createConversation(page, 'bea', 'Pictures');

    // Act: a picture, then at once a line about it.
    await page
      .locator('#attach-input')
      .setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: PNG });
    await send(page, 'see the picture above?');

    // Assess: stored, and shown, in the order typed.
    await expect
      .poll(() => stored('ada', conversationId), patiently)
      .toEqual(['1 📎 dot.png', '2 see the picture above?']);
    await expect
      .poll(() => page.locator('#messages > li .body').allTextContents(), patiently)
      .toEqual(['dot.png', 'see the picture above?']);
  });
});

describe('messages not sent yet', () => {
  it('edits one and deletes another while they wait unsent; the server keeps only the edited one', async () => {
    // Prepare: offline, fay types two messages.
    const page = await signIn('fay');
    const conversationId = await createConversation(page, 'bea', 'Second thoughts');
    await page.context().setOffline(true);
    await expect
      .poll(() => page.locator('#connection').getAttribute('data-state'), patiently)
      .not.toBe('open');
    await send(page, 'tpyo');
    await send(page, 'never mind');
    const pending = page.locator('#outbox > li');
    await expect.poll(() => pending.count(), patiently).toBe(2);

    // Act: she fixes the first and deletes the second, still offline.
    page.once('dialog', (dialog) => void dialog.accept('typo fixed'));
    await pending.filter({ hasText: 'tpyo' }).getByRole('button', { name: 'Edit' }).click();
    page.once('dialog', (dialog) => void dialog.accept());
    await pending.filter({ hasText: 'never mind' }).getByRole('button', { name: 'Delete' }).click();
    await page.context().setOffline(false);

    // Assess: the server keeps the edited one only; the page shows it so, and nothing waits.
    await expect.poll(() => stored('fay', conversationId), patiently).toEqual(['1 typo fixed']);
    await expect
      .poll(
        () => page.locator('#messages > li:not([data-deleted="true"]) .body').allTextContents(),
        patiently,
      )
      .toEqual(['typo fixed']);
    await expect.poll(() => pending.count(), patiently).toBe(0);
  });
});

describe('names and new groups', () => {
  it('shows an untitled group at once in the lists of the members added at its creation, named after the other members', async () => {
    // Prepare: dov and eli are on their pages before the group exists.
    const dov = await signIn('dov');
    const eli = await signIn('eli');
    const cid = await signIn('cid');

    // Act: cid creates an untitled group with them; nobody writes in it.
    const conversationId = await createConversation(cid, 'dov, eli');

    // Assess: it is in both lists without a message or a refresh, and each member sees the others' names.
    await expect.poll(() => listedName(dov, conversationId), patiently).toBe('cid, eli');
    await expect.poll(() => listedName(eli, conversationId), patiently).toBe('cid, dov');
    await expect.poll(() => listedName(cid, conversationId), patiently).toBe('dov, eli');
    expect(await cid.locator('#conversation-title').textContent()).toBe('dov, eli');
    await dov.locator(`#conversation-list button[data-conversation-id="${conversationId}"]`).click();
    await expect.poll(() => dov.locator('#conversation-title').textContent(), patiently).toBe('cid, eli');
  });
});
