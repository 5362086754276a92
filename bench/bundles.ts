/**
 * The Lambda bundles: their size and what loading each costs over a bare `node`, for the default
 * settings and the two a deployer can turn on (functionBundling: sourceMaps, bundleAwsSdk), against
 * issue 17's budgets (150 KB, 100 ms). Bundles are built by the stack itself (test/infra/bundles.ts), so
 * they carry its exact esbuild settings, and loaded the way Lambda loads them: the function's
 * environment, and `@aws-sdk/*` resolved through NODE_PATH (here the project's node_modules; on Lambda
 * the runtime's copy). A default bundle's load is also split: what requiring only the SDK packages it
 * names costs, the rest being its own code.
 *
 * `npm run bench bundles` runs it as a part of the bench, `npx tsx bench/bundles.ts` alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import type { FunctionBundlingProps } from '../lib/chat-function';
import type { FunctionName } from '../lib/wiring';
import { BUNDLE_BUDGET_BYTES, type BuiltBundle, buildBundles, sdkRequiresOf } from '../test/infra/bundles';

/** Loads of each bundle (and of a bare node) whose median is reported; runs are interleaved. */
const RUNS = 9;

/** Issue 17's budget for loading one bundle, over a bare node. */
export const LOAD_BUDGET_MS = 100;

/** What one child process reports: its wall time seen from here, and its own CPU time. */
interface Load {
  wallMs: number;
  cpuMs: number;
}

/** The medians of one bundle's loads, minus those of a bare node started the same way. */
export interface BundleLoad {
  readonly name: FunctionName;
  readonly bytes: number;
  readonly overBareWallMs: number;
  readonly overBareCpuMs: number;
  /** The same for requiring only the SDK packages the bundle names; absent when it names none. */
  readonly sdkOnly?: {
    readonly packages: string[];
    readonly overBareWallMs: number;
    readonly overBareCpuMs: number;
  };
}

const PRINT_CPU = 'const u=process.cpuUsage();process.stdout.write(String((u.user+u.system)/1000))';

const requiring = (modules: string[]) =>
  `${modules.map((module) => `require(${JSON.stringify(module)});`).join('')}${PRINT_CPU}`;

function loadOnce(modules: string[], environment: Record<string, string> = {}): Load {
  const env = {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    NODE_PATH: path.join(__dirname, '..', 'node_modules'),
    ...environment,
  };
  const started = performance.now();
  const child = spawnSync(process.execPath, ['-e', requiring(modules)], { env, encoding: 'utf8' });
  const wallMs = performance.now() - started;
  if (child.status !== 0) {
    throw new Error(
      `loading ${modules.join(', ') || 'nothing'} failed (exit ${child.status}): ${child.stderr}`,
    );
  }
  return { wallMs, cpuMs: Number(child.stdout) };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/**
 * Loads every bundle and a bare node RUNS times each, interleaved so a busy moment hits all alike; with
 * `splitSdk`, also each bundle's SDK packages alone.
 */
export function measureLoads(bundles: BuiltBundle[], splitSdk = false): BundleLoad[] {
  const bare: Load[] = [];
  const own = new Map<FunctionName, Load[]>(bundles.map((bundle) => [bundle.name, []]));
  const sdk = new Map<FunctionName, Load[]>(bundles.map((bundle) => [bundle.name, []]));
  const packages = new Map(bundles.map((bundle) => [bundle.name, sdkRequiresOf(bundle.file)]));
  for (let run = 0; run < RUNS; run++) {
    bare.push(loadOnce([]));
    for (const bundle of bundles) {
      own.get(bundle.name)?.push(loadOnce([bundle.file], bundle.environment));
      const names = packages.get(bundle.name) ?? [];
      if (splitSdk && names.length > 0) sdk.get(bundle.name)?.push(loadOnce(names));
    }
  }
  const bareWall = median(bare.map((load) => load.wallMs));
  const bareCpu = median(bare.map((load) => load.cpuMs));
  const over = (loads: Load[]) => ({
    overBareWallMs: median(loads.map((load) => load.wallMs)) - bareWall,
    overBareCpuMs: median(loads.map((load) => load.cpuMs)) - bareCpu,
  });
  return bundles.map((bundle) => {
    const sdkLoads = sdk.get(bundle.name) ?? [];
    return {
      name: bundle.name,
      bytes: bundle.bytes,
      ...over(own.get(bundle.name) ?? []),
      ...(sdkLoads.length > 0
        ? { sdkOnly: { packages: packages.get(bundle.name) ?? [], ...over(sdkLoads) } }
        : {}),
    };
  });
}

/** Builds the bundles with `bundling` in a scratch folder and measures them. */
export function measureBundles(bundling: FunctionBundlingProps = {}, splitSdk = false): BundleLoad[] {
  const outdir = mkdtempSync(path.join(tmpdir(), 'chat-bench-bundles-'));
  try {
    return measureLoads(buildBundles(outdir, { functionBundling: bundling }), splitSdk);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const ms = (load: { overBareWallMs: number; overBareCpuMs: number }) =>
  `+${load.overBareWallMs.toFixed(0)} ms (CPU +${load.overBareCpuMs.toFixed(0)} ms)`;
const over = (load: BundleLoad | undefined) => (load ? ms(load) : '—');
const flag = (within: boolean) => (within ? '' : ' **over**');

/**
 * Measures the default bundles (their SDK part apart) and both alternatives, and prints one Markdown
 * table: size against 150 KB, load over a bare node against 100 ms (wall and CPU time, medians of RUNS),
 * the runtime SDK's part of it, and the alternatives' size and load. The machine's load average before
 * and after says how far to trust the wall times.
 */
export function reportBundles(): string {
  const before = loadavg()[0] ?? 0;
  const lean = measureBundles({}, true);
  const withSourceMaps = measureBundles({ sourceMaps: true });
  const withSdk = measureBundles({ bundleAwsSdk: true });
  const after = loadavg()[0] ?? 0;
  const lines = [
    `Medians of ${RUNS} loads each, load average ${before.toFixed(1)} before, ${after.toFixed(1)} after.`,
    '',
    `| function | bundle (budget ${kb(BUNDLE_BUDGET_BYTES)}) | load over bare node (budget ${LOAD_BUDGET_MS} ms) | of which the runtime's SDK | with sourceMaps | with bundleAwsSdk |`,
    '|---|---|---|---|---|---|',
    ...lean.map((load) => {
      const sdk = withSdk.find((other) => other.name === load.name);
      const cells = [
        load.name,
        `${kb(load.bytes)}${flag(load.bytes < BUNDLE_BUDGET_BYTES)}`,
        `${ms(load)}${flag(load.overBareWallMs < LOAD_BUDGET_MS)}`,
        load.sdkOnly ? `${ms(load.sdkOnly)}, ${load.sdkOnly.packages.length} packages` : 'none',
        over(withSourceMaps.find((other) => other.name === load.name)),
        sdk ? `${kb(sdk.bytes)}, ${over(sdk)}` : '—',
      ];
      return `| ${cells.join(' | ')} |`;
    }),
  ];
  return lines.join('\n');
}

if (require.main === module) {
  console.log(`\nLambda bundles (${new Date().toISOString().slice(0, 10)}):\n`);
  console.log(reportBundles());
}
