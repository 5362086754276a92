/**
 * The browser `npm ci` installs works on this machine, whatever system browser it also has: this is the
 * browser of every browser test on a machine with no Chromium or Chrome (find-chromium.ts).
 */
import { accessSync, constants, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launchChromium, unpackNpmChromium } from './find-chromium';

describe('the npm Chromium', () => {
  const root = mkdtempSync(join(tmpdir(), 'npm-chromium-test-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('unpacks once into a folder of its version, leaving no partial folder behind', async () => {
    const binary = await unpackNpmChromium(root);

    accessSync(binary, constants.X_OK);
    expect(basename(dirname(binary))).toMatch(/^serverless-chat-chromium-\d+\.\d+\.\d+$/);
    expect(readdirSync(root)).toEqual([basename(dirname(binary))]);
    expect(await unpackNpmChromium(root)).toBe(binary);
  });

  it('opens a page through playwright-core and reads its title', async () => {
    const browser = await launchChromium({ kind: 'npm', origin: 'this test' });
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto('data:text/html,<title>found by npm</title><p>hello</p>');

      expect(await page.title()).toBe('found by npm');
      expect(await page.locator('p').textContent()).toBe('hello');
    } finally {
      await browser.close();
    }
  });
});
