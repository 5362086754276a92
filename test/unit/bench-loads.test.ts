/**
 * `npm run bench` runs under tsx, not vitest, and imports e2e helpers: a helper that pulls in vitest
 * breaks it, and no test would notice, since the bench is not part of `npm test`.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');

describe('the benchmark', () => {
  it('loads its modules outside vitest, as npm run bench does', () => {
    // Act
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', '-e', "require('./bench/burst.ts'); require('./test/e2e/helpers.ts');"],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );

    // Assess
    expect(run.stderr).not.toContain('Error');
    expect(run.status).toBe(0);
  }, 90_000);
});
