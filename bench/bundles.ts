/**
 * The Lambda bundles: their size and what loading each costs over a bare `node`, for the default
 * settings and the two a deployer can turn on (functionBundling: sourceMaps, bundleAwsSdk). Bundles are
 * built by the stack itself (test/infra/bundles.ts), so they carry its exact esbuild settings, and
 * loaded the way Lambda loads them: the function's environment, and `@aws-sdk/*` resolved through
 * NODE_PATH (here the project's node_modules; on Lambda the runtime's copy).
 *
 * `npm run bench bundles` runs it as a part of the bench, `npx tsx bench/bundles.ts` alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { FunctionBundlingProps } from '../lib/chat-function';
import type { FunctionName } from '../lib/wiring';
import { type BuiltBundle, buildBundles, bundleCeilingBytes } from '../test/infra/bundles';

/** Loads of each bundle (and of a bare node) whose median is reported; runs are interleaved. */
const RUNS = 7;

/** What one child process reports: its wall time seen from here, and its own CPU time. */
interface Load {
  wallMs: number;
  cpuMs: number;
}

/** The medians of one bundle's loads, minus those of a bare node started the same way. */
export interface BundleLoad {
  readonly name: FunctionName;
  readonly bytes: number;
  readonly ceilingBytes: number;
  readonly overBareWallMs: number;
  readonly overBareCpuMs: number;
}

const PRINT_CPU = 'const u=process.cpuUsage();process.stdout.write(String((u.user+u.system)/1000))';

function loadOnce(bundle: BuiltBundle | undefined): Load {
  const script = bundle ? `require(${JSON.stringify(bundle.file)});${PRINT_CPU}` : PRINT_CPU;
  const env = {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    NODE_PATH: path.join(__dirname, '..', 'node_modules'),
    ...bundle?.environment,
  };
  const started = performance.now();
  const child = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  const wallMs = performance.now() - started;
  if (child.status !== 0) {
    throw new Error(`loading ${bundle?.name ?? 'nothing'} failed (exit ${child.status}): ${child.stderr}`);
  }
  return { wallMs, cpuMs: Number(child.stdout) };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/** Loads every bundle and a bare node RUNS times each, interleaved so a busy moment hits all alike. */
export function measureLoads(bundles: BuiltBundle[]): BundleLoad[] {
  const bare: Load[] = [];
  const loads = new Map<FunctionName, Load[]>(bundles.map((bundle) => [bundle.name, []]));
  for (let run = 0; run < RUNS; run++) {
    bare.push(loadOnce(undefined));
    for (const bundle of bundles) loads.get(bundle.name)?.push(loadOnce(bundle));
  }
  const bareWall = median(bare.map((load) => load.wallMs));
  const bareCpu = median(bare.map((load) => load.cpuMs));
  return bundles.map((bundle) => {
    const own = loads.get(bundle.name) ?? [];
    return {
      name: bundle.name,
      bytes: bundle.bytes,
      ceilingBytes: bundleCeilingBytes(bundle.name),
      overBareWallMs: median(own.map((load) => load.wallMs)) - bareWall,
      overBareCpuMs: median(own.map((load) => load.cpuMs)) - bareCpu,
    };
  });
}

/** Builds the bundles with `bundling` in a scratch folder and measures them. */
export function measureBundles(bundling: FunctionBundlingProps = {}): BundleLoad[] {
  const outdir = mkdtempSync(path.join(tmpdir(), 'chat-bench-bundles-'));
  try {
    return measureLoads(buildBundles(outdir, { functionBundling: bundling }));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const over = (load: BundleLoad | undefined) =>
  load ? `+${load.overBareWallMs.toFixed(0)} ms (CPU +${load.overBareCpuMs.toFixed(0)} ms)` : '—';

/**
 * Measures the default bundles and both alternatives, and prints one Markdown table: size (against the
 * budget), and load over a bare node, wall and CPU time, medians of RUNS.
 */
export function reportBundles(): string {
  const lean = measureBundles();
  const withSourceMaps = measureBundles({ sourceMaps: true });
  const withSdk = measureBundles({ bundleAwsSdk: true });
  const lines = [
    '| function | bundle (ceiling) | load over bare node | with sourceMaps | with bundleAwsSdk |',
    '|---|---|---|---|---|',
    ...lean.map((load) => {
      const sdk = withSdk.find((other) => other.name === load.name);
      const cells = [
        load.name,
        `${kb(load.bytes)} (${kb(load.ceilingBytes)})`,
        over(load),
        over(withSourceMaps.find((other) => other.name === load.name)),
        sdk ? `${kb(sdk.bytes)}, ${over(sdk)}` : '—',
      ];
      return `| ${cells.join(' | ')} |`;
    }),
  ];
  return lines.join('\n');
}

if (require.main === module) {
  console.log(
    `\nLambda bundles, load times the median of ${RUNS} (${new Date().toISOString().slice(0, 10)}):\n`,
  );
  console.log(reportBundles());
}
