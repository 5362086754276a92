/**
 * The web page recovers without a reload: from tokens the server no longer accepts (a restart with a new
 * signing key, an expired or revoked session), and from a conversation that does not exist or that the
 * user is not in, whose unsent messages are kept for the user to copy.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { letAnyoneAdd } from '../e2e/helpers';
import { useLocalRuntime } from '../support/local-runtime';
import { createConversation, PAGE_OPTIONS, patiently, send, useBrowser } from './support';

const { runtime } = useLocalRuntime();
const { browser, signIn } = useBrowser(runtime);

/** A real token with its signature spoiled: what the server says of a token signed by a key it no longer has. */
const spoiled = (token: string): string =>
  `${token.slice(0, -8)}${token.slice(-8) === 'AAAAAAAA' ? 'BBBBBBBB' : 'AAAAAAAA'}`;

/** An hour from now, as the token endpoint says it: the page has no reason to think its token is stale. */
const inAnHour = (): string => new Date(Date.now() + 3_600_000).toISOString();

/** What tess's outbox keeps in her browser, as an expression for the page. */
const OUTBOX = "localStorage.getItem('serverless-chat:outbox:tess')";

/** The page's transcript bodies, top to bottom. */
const bodies = (page: Page): Promise<string[]> => page.locator('#messages > li .body').allTextContents();

describe('the web page after the server stops accepting its token', () => {
  it('fetches a fresh token when its cached one is refused, gets back in and sends, with no reload', async () => {
    // Prepare: the first token the page gets is accepted for 4 s, but the endpoint says an hour, as a
    // token signed before a restart (or a key rotation) looks to the page.
    await letAnyoneAdd(runtime(), ['rex']);
    const context = await browser().newContext(PAGE_OPTIONS);
    let expiresAt = 0;
    await context.route('**/token?*', async (route) => {
      if (expiresAt !== 0) return route.continue();
      expiresAt = Date.now() + 4_000;
      const response = await route.fetch({ url: `${route.request().url()}&expiresIn=4` });
      const answer = (await response.json()) as { token: string };
      await route.fulfill({ response, json: { ...answer, expiresAt: inAnHour() } });
    });
    const page = await signIn('quinn', context);
    await createConversation(page, 'rex', 'After the restart');
    await expect.poll(() => Date.now(), patiently).toBeGreaterThan(expiresAt + 1_000);

    // Act: the next message meets the refusal of the old token.
    await send(page, 'still here?');

    // Assess: the page got a fresh token and back in, and the message is stored.
    await expect.poll(() => bodies(page), { ...patiently, timeout: 60_000 }).toEqual(['still here?']);
    expect(await page.locator('#connection').getAttribute('data-state')).toBe('open');
    expect(await page.locator('#session-ended').isHidden()).toBe(true);
  });

  it('replaces a token the server does not know (signed before a restart) although the browser cannot tell it was refused', async () => {
    // Prepare: the first token is signed by no key the server has; the endpoint's later ones are good.
    const context = await browser().newContext(PAGE_OPTIONS);
    let handedOut = 0;
    await context.route('**/token?*', async (route) => {
      if (handedOut++ > 0) return route.continue();
      const response = await route.fetch();
      const answer = (await response.json()) as { token: string };
      await route.fulfill({
        response,
        json: { ...answer, token: spoiled(answer.token), expiresAt: inAnHour() },
      });
    });

    // Act: sign in with it.
    const page = await signIn('ruth', context);

    // Assess: the page got in with a fresh token and sends.
    await createConversation(page, 'rex');
    await send(page, 'in after the restart');
    await expect.poll(() => bodies(page), patiently).toEqual(['in after the restart']);
    expect(handedOut).toBeGreaterThanOrEqual(2);
  });

  it('says in words that the session ended when the sign-in is refused, and Sign in again gets back in', async () => {
    // Prepare: the first token is signed by no key the server has, and the endpoint then refuses the user
    // (a revoked session).
    const context = await browser().newContext(PAGE_OPTIONS);
    let handedOut = 0;
    await context.route('**/token?*', async (route) => {
      if (handedOut++ > 0)
        return route.fulfill({ status: 401, json: { message: 'This session was revoked' } });
      const response = await route.fetch();
      const answer = (await response.json()) as { token: string };
      await route.fulfill({
        response,
        json: { ...answer, token: spoiled(answer.token), expiresAt: inAnHour() },
      });
    });
    const page = await context.newPage();
    await page.goto(runtime().webUrl);
    await page.getByLabel('User id', { exact: true }).fill('ross');

    // Act: sign in; the server does not take the token, and no fresh one is given.
    await page.getByRole('button', { name: 'Sign in' }).click();

    // Assess: the page says what happened and what to do.
    const ended = page.locator('#session-ended');
    await expect.poll(() => ended.isVisible(), patiently).toBe(true);
    expect(await ended.textContent()).toContain('Your session ended; sign in again');

    // Act: the user's credentials are fine again; they click the button.
    await context.unroute('**/token?*');
    await page.getByRole('button', { name: 'Sign in again' }).click();

    // Assess: back in, the banner gone, and a message goes through.
    await page.locator('#connection[data-state="open"]').waitFor();
    expect(await ended.isHidden()).toBe(true);
    await createConversation(page, 'rex');
    await send(page, 'back in');
    await expect.poll(() => bodies(page), patiently).toEqual(['back in']);
  });
});

describe('the web page opening a conversation it cannot read', () => {
  it('says so in words, hides its controls, and keeps its unsent messages to copy (the list marks it, across a reload) until discarded', async () => {
    // Prepare: offline, alice opens a made-up conversation id and types two messages to it.
    const page = await signIn('tess');
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await page.context().setOffline(true);
    await expect
      .poll(() => page.locator('#connection').getAttribute('data-state'), patiently)
      .not.toBe('open');
    await page.getByLabel('Open by id').fill('made-up-conversation');
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await send(page, 'first unsent line');
    await send(page, 'second unsent line');
    await expect
      .poll(() => page.locator('#conversation-list').textContent(), patiently)
      .toContain('2 unsent');

    // Act: back online, the server refuses the conversation.
    await page.context().setOffline(false);

    // Assess: the refusal in words; the list keeps it only as the place of its unsent messages; no
    // controls that need membership.
    await expect
      .poll(() => page.locator('#conversation-error').textContent(), patiently)
      .toBe('This conversation does not exist or you are not in it.');
    const listed = page.locator('#conversation-list button[data-conversation-id="made-up-conversation"]');
    await expect.poll(() => listed.getAttribute('data-gone'), patiently).toBe('true');
    expect(await listed.textContent()).toContain('does not exist or you are not in it');
    expect(await listed.textContent()).toContain('2 unsent');
    for (const control of ['#members-toggle', '#leave', '#attach'])
      expect(await page.locator(control).isHidden(), control).toBe(true);
    // The unsent messages are shown, to copy.
    const stranded = page.locator('#stranded');
    expect(await stranded.isVisible()).toBe(true);
    expect(await page.locator('#stranded-text').textContent()).toContain('Your 2 unsent messages');
    expect(await page.locator('#stranded-bodies').inputValue()).toBe(
      'first unsent line\n\nsecond unsent line',
    );
    await page.getByRole('button', { name: 'Copy' }).click();
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(
      'first unsent line\n\nsecond unsent line',
    );
    // Nothing is dropped until the user says so, not even by a reload.
    expect(await page.evaluate<string | null>(OUTBOX)).toContain('second unsent line');
    await page.reload();
    await page.locator('#connection[data-state="open"]').waitFor();
    expect(await page.locator('#conversation-pane').isHidden()).toBe(true);
    await listed.click();
    await expect.poll(() => stranded.isVisible(), patiently).toBe(true);
    expect(await page.locator('#stranded-bodies').inputValue()).toBe(
      'first unsent line\n\nsecond unsent line',
    );

    // Act: the user discards them.
    await page.getByRole('button', { name: 'Discard them' }).click();

    // Assess: gone from the screen, the outbox and the list.
    await expect.poll(() => stranded.isHidden(), patiently).toBe(true);
    await expect.poll(() => page.evaluate<string>(`${OUTBOX} ?? ''`), patiently).not.toContain('unsent line');
    expect(await listed.count()).toBe(0);
  });
});
