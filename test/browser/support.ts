/**
 * What every browser test file shares: a Chromium through playwright-core (found by find-chromium.ts),
 * launched once per file, and the page of a signed-in user. The local runtime is the file's own
 * (useLocalRuntime).
 */
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import WebSocket from 'ws';
import { type ChatClient, connect } from '../../client';
import type { LocalRuntime } from '../../local/runtime';
import { launchChromium } from './find-chromium';

/** Browser round trips through the local runtime take milliseconds; a slow CI machine gets room. */
export const patiently = { timeout: 30_000, interval: 100 };

/** The size every test page has, and UTC so that times read the same everywhere. */
export const PAGE_OPTIONS: BrowserContextOptions = {
  viewport: { width: 820, height: 560 },
  timezoneId: 'UTC',
};

export interface BrowserFixture {
  browser: () => Browser;
  /** Uncaught exceptions, console errors (a CSP violation is one) and failed S3 requests of every page. */
  pageProblems: string[];
  /**
   * Opens the page in `context` (by default a new one with `contextOptions`: storage and network of its
   * own), signs in as `userId` and waits for the connection to open.
   */
  signIn(userId: string, context?: BrowserContext, contextOptions?: BrowserContextOptions): Promise<Page>;
  /** An SDK client of `userId`, for the other side of a test or what the page offers no control for. */
  clientOf(userId: string): ChatClient;
}

/** Launches Chromium before the file's tests and closes it after them. */
export function useBrowser(runtime: () => LocalRuntime): BrowserFixture {
  let launched: Browser | undefined;
  const pageProblems: string[] = [];
  beforeAll(async () => {
    launched = await launchChromium();
  });
  afterAll(async () => {
    await launched?.close();
  });
  const browser = (): Browser => {
    if (launched === undefined) throw new Error('The browser is not launched yet');
    return launched;
  };
  return {
    browser,
    pageProblems,
    async signIn(userId, context, contextOptions = {}) {
      const page = await (
        context ?? (await browser().newContext({ ...PAGE_OPTIONS, ...contextOptions }))
      ).newPage();
      page.on('pageerror', (err) => pageProblems.push(`${userId}: ${err.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') pageProblems.push(`${userId}: ${message.text()}`);
      });
      // An upload or download the browser gave up on, even one whose bytes got through.
      page.on('requestfailed', (request) => {
        if (new URL(request.url()).hostname.endsWith('.s3.localhost'))
          pageProblems.push(`${userId}: ${request.method()} to S3 failed: ${request.failure()?.errorText}`);
      });
      await page.goto(runtime().webUrl);
      await page.getByLabel('User id', { exact: true }).fill(userId);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#connection[data-state="open"]').waitFor();
      return page;
    },
    clientOf: (userId) =>
      connect({ url: runtime().webSocketUrl, tokenProvider: () => runtime().issueToken(userId), WebSocket }),
  };
}

/** Types `body` in the composer and presses Enter. */
export async function send(page: Page, body: string): Promise<void> {
  await page.getByLabel('Message', { exact: true }).fill(body);
  await page.getByLabel('Message', { exact: true }).press('Enter');
}

/** Creates a conversation on the page and returns its id, once the page shows it. */
export async function createConversation(page: Page, members: string, title = ''): Promise<string> {
  await page.getByLabel('Members (user ids, comma-separated)').fill(members);
  await page.getByLabel('Title (optional)').fill(title);
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('#conversation-id:not(:empty)').waitFor();
  return (await page.locator('#conversation-id').textContent()) ?? '';
}
