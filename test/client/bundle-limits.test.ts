/**
 * The SDK's bundle carries the limits it reads (shared/client-limits.ts) and none of the server's: the one
 * LIMITS object cannot be dropped by esbuild, so a limit added for a Lambda would otherwise grow the SDK
 * against its 10 KB budget (readme-example.test.ts).
 */
import * as path from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { CLIENT_LIMITS } from '../../shared/client-limits';
import { LIMITS } from '../../shared/limits';

const ROOT = path.join(__dirname, '..', '..');

describe('the limits in the SDK bundle', () => {
  it('are the client limits alone, each the same as in LIMITS', async () => {
    // Prepare
    const serverOnly = Object.keys(LIMITS).filter((name) => !(name in CLIENT_LIMITS));

    // Act
    const bundle = await build({
      entryPoints: [path.join(ROOT, 'client/index.ts')],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'neutral',
      write: false,
    });
    const code = bundle.outputFiles[0]?.text ?? '';

    // Assess
    expect(serverOnly.filter((name) => code.includes(name))).toEqual([]);
    for (const [name, value] of Object.entries(CLIENT_LIMITS))
      expect(LIMITS[name as keyof typeof CLIENT_LIMITS]).toBe(value);
  });
});
