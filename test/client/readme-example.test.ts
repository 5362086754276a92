/**
 * The SDK as an app installs it: `serverless-chat/client` resolves to the built bundle and its types
 * (package.json `exports`, built by `npm run build:client`, which `npm install` runs), the README's SDK
 * example compiles against it, and the bundle stays small.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const PACKAGE = 'serverless-chat/client';

/** The ```ts blocks of `markdown` that import the SDK package. */
function sdkExamples(markdown: string): string[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((match) => match[1] ?? '')
    .filter((block) => block.includes(`from '${PACKAGE}'`));
}

/** Type-checks each source as an ES module inside this package (so the package name resolves to itself); tsc's output when it fails. */
function typeCheck(sources: string[]): { ok: boolean; output: string } {
  const parent = path.join(ROOT, 'test-output');
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(path.join(parent, 'readme-example-'));
  const files = sources.map((source, index) => {
    const file = `example-${index + 1}.mts`;
    writeFileSync(path.join(dir, file), source);
    return file;
  });
  const compilerOptions = {
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    lib: ['ES2024'],
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
  };
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }));
  try {
    execFileSync(path.join(ROOT, 'node_modules/.bin/tsc'), ['-p', dir], { encoding: 'utf8', stdio: 'pipe' });
    return { ok: true, output: '' };
  } catch (err: unknown) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${stdout}${stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the SDK as a package', () => {
  beforeAll(() => {
    execFileSync('npm', ['run', '-s', 'build:client'], { cwd: ROOT, stdio: 'pipe' });
  }, 120_000);

  it("compiles the README's SDK example against serverless-chat/client", () => {
    // Prepare
    const examples = sdkExamples(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));

    // Act
    const { ok, output } = typeCheck(examples);

    // Assess
    expect(examples.length, `README.md has no \`\`\`ts block importing from '${PACKAGE}'`).toBeGreaterThan(0);
    expect(output).toBe('');
    expect(ok).toBe(true);
  }, 60_000);

  it('fails an example that does not compile, naming the error', () => {
    const { ok, output } = typeCheck([
      `import { connect } from '${PACKAGE}';\nconst online = connect;\nconst online = 1;\n`,
    ]);

    expect(ok).toBe(false);
    expect(output).toContain("Cannot redeclare block-scoped variable 'online'");
  }, 60_000);

  it('loads from Node as CommonJS and as an ES module', () => {
    const run = (args: string[]) => execFileSync('node', args, { cwd: ROOT, encoding: 'utf8' }).trim();

    expect(run(['-e', `console.log(typeof require('${PACKAGE}').connect)`])).toBe('function');
    expect(
      run(['--input-type=module', '-e', `import { connect } from '${PACKAGE}'; console.log(typeof connect)`]),
    ).toBe('function');
  }, 60_000);

  it('stays under 10 KB minified and gzipped', async () => {
    const bundle = await build({
      entryPoints: [path.join(ROOT, 'client/index.ts')],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'neutral',
      write: false,
    });
    const code = bundle.outputFiles[0]?.contents ?? new Uint8Array();

    expect(gzipSync(code, { level: 9 }).length).toBeLessThan(10 * 1024);
  });
});
