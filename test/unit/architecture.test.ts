/**
 * The shape of the house, checked on every run: the layers import only downwards, no source file imports
 * itself back through others, runtime code never loads the CDK, and every source file stays one room.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');

/** The folders of source code, lowest layer first. */
const SOURCE_FOLDERS = [
  'shared',
  'lambdas',
  'client',
  'lib',
  'bin',
  'web',
  'local',
  'bench',
  'chaos',
] as const;
type Layer = (typeof SOURCE_FOLDERS)[number];

/** What each layer may import besides itself; `lambdas/<name>` may import only its own folder of lambdas. */
const MAY_IMPORT: Record<Layer, readonly string[]> = {
  shared: [],
  lambdas: ['shared'],
  client: ['shared'],
  lib: ['shared'],
  bin: ['lib', 'shared'],
  web: ['client', 'shared'],
  local: ['shared', 'lambdas', 'client', 'lib', 'web'],
  bench: ['shared', 'lambdas', 'client', 'lib', 'web', 'local', 'test'],
  chaos: ['shared', 'client', 'lib', 'local'],
};

/** Code that runs in a Lambda or a browser: it must never load the CDK. */
const RUNTIME_LAYERS: readonly Layer[] = ['shared', 'lambdas', 'client', 'web'];

/** A room holds one job: past this a file is split by job into a folder. */
const MAX_LINES = 400;

function sourceFiles(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.m?ts$/.test(name) && !name.endsWith('.d.ts')) found.push(full);
    }
  };
  const start = path.join(ROOT, folder);
  if (existsSync(start)) walk(start);
  return found;
}

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The module specifiers a file imports, statically or dynamically (type-only imports included). */
function specifiersOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((match) => match[1] ?? match[2] ?? '');
}

/** The file a relative specifier names, as Node and the bundler resolve it; undefined for packages. */
function resolveRelative(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), specifier);
  const candidates = [base, `${base}.ts`, `${base}.mts`, path.join(base, 'index.ts')];
  return candidates.find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
}

const relative = (file: string): string => path.relative(ROOT, file).split(path.sep).join('/');
const layerOf = (file: string): string => relative(file).split('/')[0] ?? '';

const FILES = SOURCE_FOLDERS.flatMap(sourceFiles);
const GRAPH = new Map(
  FILES.map((file) => [
    file,
    specifiersOf(file)
      .map((specifier) => resolveRelative(file, specifier))
      .filter((target): target is string => target !== undefined),
  ]),
);

/** Every import cycle, each as the files around it. */
function cycles(): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const target of GRAPH.get(file) ?? []) {
      if (state.get(target) === 'open')
        found.push([...stack.slice(stack.indexOf(target)), target].map(relative));
      else if (!state.has(target)) visit(target);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of FILES) if (!state.has(file)) visit(file);
  return found;
}

describe('the architecture', () => {
  it('reads the source folders (a check over no files would prove nothing)', () => {
    expect(FILES.length).toBeGreaterThan(50);
    expect([...GRAPH.values()].flat().length).toBeGreaterThan(100);
  });

  it('has no import cycle between source files', () => {
    expect(cycles()).toEqual([]);
  });

  it('imports only downwards: shared ← lambdas, client, lib ← web ← local', () => {
    const upward = [...GRAPH].flatMap(([file, targets]) => {
      const layer = layerOf(file) as Layer;
      return targets
        .filter((target) => {
          const to = layerOf(target);
          if (to === layer) {
            // A function's folder is its own: lambdas never import another function's internals.
            return layer === 'lambdas' && relative(file).split('/')[1] !== relative(target).split('/')[1];
          }
          return !MAY_IMPORT[layer].includes(to);
        })
        .map((target) => `${relative(file)} → ${relative(target)}`);
    });
    expect(upward).toEqual([]);
  });

  it('never loads the CDK from code that runs in a Lambda or a browser', () => {
    const offenders = FILES.filter((file) => RUNTIME_LAYERS.includes(layerOf(file) as Layer))
      .filter((file) =>
        specifiersOf(file).some((specifier) => /^(aws-cdk-lib|constructs|cdk-nag)(\/|$)/.test(specifier)),
      )
      .map(relative);
    expect(offenders).toEqual([]);
  });

  it(`keeps every source file under ${MAX_LINES} lines`, () => {
    const large = FILES.map((file) => ({
      file: relative(file),
      lines: readFileSync(file, 'utf8').split('\n').length,
    }))
      .filter(({ lines }) => lines > MAX_LINES)
      .map(({ file, lines }) => `${file} (${lines})`);
    expect(large).toEqual([]);
  });
});
