/**
 * Which Chromium the browser tests drive. A browser is found the way developers have one: the one they
 * name, else the system's Chromium or Chrome, else the Chromium that `npm ci` installed with the dev
 * dependencies (`@sparticuz/chromium`), so that `npm test` needs no browser installed by root.
 */
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import Chromium from '@sparticuz/chromium';
import { type Browser, chromium } from 'playwright-core';

/** The variable that names the browser: a path to a Chromium or Chrome, or `npm` for the npm one. */
export const CHROMIUM_PATH = 'CHROMIUM_PATH';
/** Playwright's own variable for the same thing, honoured so that a setup made for Playwright works here. */
export const PLAYWRIGHT_CHROMIUM_PATH = 'PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH';

/** Where Debian, Ubuntu and Google's packages put the browser; looked at before PATH. */
export const SYSTEM_BROWSERS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
];

/** A browser on disk, or the npm one, which is unpacked on first use. `origin` says why it was chosen. */
export type ChromiumChoice =
  | { kind: 'file'; executablePath: string; origin: string }
  | { kind: 'npm'; origin: string };

/** What the choice reads from the machine, passed in so that a unit test can describe any machine. */
export interface MachineView {
  env: NodeJS.ProcessEnv;
  isExecutable(path: string): boolean;
}

const thisMachine: MachineView = { env: process.env, isExecutable };

/**
 * Chooses the browser: `CHROMIUM_PATH` (a path, or `npm`), then `PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH`, then
 * {@link SYSTEM_BROWSERS}, then those names on `PATH`, then the npm Chromium. A variable naming a file
 * that is not executable is an error rather than a quiet fallback: the developer asked for that browser.
 */
export function chooseChromium({ env, isExecutable }: MachineView = thisMachine): ChromiumChoice {
  for (const variable of [CHROMIUM_PATH, PLAYWRIGHT_CHROMIUM_PATH]) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    if (variable === CHROMIUM_PATH && value === 'npm') return { kind: 'npm', origin: `${CHROMIUM_PATH}=npm` };
    if (!isExecutable(value))
      throw new Error(
        `${variable}=${value} is not an executable file: name a Chromium or Chrome, or unset it`,
      );
    return { kind: 'file', executablePath: value, origin: variable };
  }
  for (const path of SYSTEM_BROWSERS)
    if (isExecutable(path)) return { kind: 'file', executablePath: path, origin: 'the system browser' };
  for (const dir of (env.PATH ?? '').split(delimiter).filter((entry) => entry !== ''))
    for (const name of SYSTEM_BROWSERS.map((path) => basename(path))) {
      const path = join(dir, name);
      if (isExecutable(path)) return { kind: 'file', executablePath: path, origin: 'PATH' };
    }
  return { kind: 'npm', origin: 'no system browser' };
}

/**
 * Unpacks the npm Chromium (about 200 MB, 3 s) into `<tmpdir>/serverless-chat-chromium-<version>` once and
 * returns its binary. The package unpacks into `os.tmpdir()` and reuses any `chromium` it finds there, even
 * a half-written one from a run that was killed, or another project's of another version; so it unpacks
 * into a folder of this process's own, which is renamed into place only when complete.
 */
export async function unpackNpmChromium(root = tmpdir()): Promise<string> {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error(
      `The npm Chromium runs on x64 Linux only, not ${process.platform} ${process.arch}: set ${CHROMIUM_PATH} to a Chromium or Chrome`,
    );
  const dir = join(root, `serverless-chat-chromium-${npmChromiumVersion()}`);
  const binary = join(dir, 'chromium');
  if (existsSync(binary)) return binary;
  const staging = `${dir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const unpacked = await withTmpdir(staging, () => Chromium.executablePath());
    if (unpacked !== join(staging, 'chromium'))
      throw new Error(`@sparticuz/chromium unpacked to ${unpacked}, not into ${staging}`);
    renameSync(staging, dir);
  } catch (err: unknown) {
    rmSync(staging, { recursive: true, force: true });
    // Another process that unpacked the same version at the same time won the rename.
    if (!existsSync(binary)) throw err;
  }
  return binary;
}

/**
 * Launches the chosen browser headless through playwright-core. The npm Chromium is a headless-only build;
 * of the flags its package recommends for Lambda none is needed on a Linux machine.
 */
export async function launchChromium(choice: ChromiumChoice = chooseChromium()): Promise<Browser> {
  const executablePath = choice.kind === 'file' ? choice.executablePath : await unpackNpmChromium();
  const args = choice.kind === 'file' ? ['--no-sandbox'] : ['--headless', '--no-sandbox'];
  try {
    return await chromium.launch({ executablePath, headless: true, args });
  } catch (err: unknown) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`Could not launch ${executablePath} (chosen by ${choice.origin}): ${reason}`);
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function npmChromiumVersion(): string {
  // The package exports no package.json; its entry point lies two folders below it.
  const entry = createRequire(__filename).resolve('@sparticuz/chromium');
  const manifest = JSON.parse(readFileSync(join(dirname(entry), '..', '..', 'package.json'), 'utf8'));
  return String(manifest.version);
}

/**
 * Runs `start` with `os.tmpdir()` answering `dir`. The package reads tmpdir synchronously when
 * `executablePath()` is called and decides every output path then, so the variable is put back at once.
 */
async function withTmpdir(dir: string, start: () => Promise<string>): Promise<string> {
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  let running: Promise<string>;
  try {
    running = start();
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
  return await running;
}
