import { describe, expect, it } from 'vitest';
import { type ChromiumChoice, chooseChromium, type MachineView } from '../browser/find-chromium';

/** A machine whose executable files are exactly `executables`. */
function machine(env: NodeJS.ProcessEnv, executables: string[]): MachineView {
  return { env, isExecutable: (path) => executables.includes(path) };
}

const file = (executablePath: string, origin: string): ChromiumChoice => ({
  kind: 'file',
  executablePath,
  origin,
});

describe('chooseChromium', () => {
  it('takes the browser CHROMIUM_PATH names over every other', () => {
    const chosen = chooseChromium(
      machine(
        {
          CHROMIUM_PATH: '/opt/my/chrome',
          PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH: '/opt/pw/chrome',
          PATH: '/bin',
        },
        ['/opt/my/chrome', '/opt/pw/chrome', '/usr/bin/chromium', '/bin/chromium'],
      ),
    );

    expect(chosen).toEqual(file('/opt/my/chrome', 'CHROMIUM_PATH'));
  });

  it('takes the npm Chromium when CHROMIUM_PATH is npm, even with a system browser', () => {
    const chosen = chooseChromium(machine({ CHROMIUM_PATH: 'npm' }, ['/usr/bin/chromium']));

    expect(chosen).toEqual({ kind: 'npm', origin: 'CHROMIUM_PATH=npm' });
  });

  it("honours Playwright's variable before the system browser", () => {
    const chosen = chooseChromium(
      machine({ PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH: '/opt/pw/chrome' }, [
        '/opt/pw/chrome',
        '/usr/bin/chromium',
      ]),
    );

    expect(chosen).toEqual(file('/opt/pw/chrome', 'PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH'));
  });

  it('refuses a variable that names no executable instead of quietly taking another browser', () => {
    const choosing = () =>
      chooseChromium(machine({ CHROMIUM_PATH: '/opt/typo/chrome' }, ['/usr/bin/chromium']));

    expect(choosing).toThrow('CHROMIUM_PATH=/opt/typo/chrome is not an executable file');
  });

  it('ignores an empty variable', () => {
    const chosen = chooseChromium(machine({ CHROMIUM_PATH: '' }, ['/usr/bin/chromium']));

    expect(chosen).toEqual(file('/usr/bin/chromium', 'the system browser'));
  });

  it.each([
    ['/usr/bin/chromium', ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']],
    ['/usr/bin/chromium-browser', ['/usr/bin/chromium-browser', '/usr/bin/google-chrome']],
    ['/usr/bin/google-chrome', ['/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']],
    ['/usr/bin/google-chrome-stable', ['/usr/bin/google-chrome-stable']],
  ])('takes the system browser %s first of those installed', (expected, installed) => {
    const chosen = chooseChromium(machine({ PATH: '/home/me/bin' }, [...installed, '/home/me/bin/chromium']));

    expect(chosen).toEqual(file(expected, 'the system browser'));
  });

  it('looks for the browser names on PATH, in PATH order, when /usr/bin has none', () => {
    const chosen = chooseChromium(
      machine({ PATH: '/empty::/snap/bin:/home/me/bin' }, [
        '/home/me/bin/chromium',
        '/snap/bin/google-chrome',
      ]),
    );

    expect(chosen).toEqual(file('/snap/bin/google-chrome', 'PATH'));
  });

  it('falls back to the npm Chromium on a machine with no browser', () => {
    const chosen = chooseChromium(machine({ PATH: '/usr/local/bin:/usr/bin:/bin' }, ['/usr/bin/node']));

    expect(chosen).toEqual({ kind: 'npm', origin: 'no system browser' });
  });

  it('falls back to the npm Chromium with no PATH at all', () => {
    expect(chooseChromium(machine({}, []))).toEqual({ kind: 'npm', origin: 'no system browser' });
  });
});
