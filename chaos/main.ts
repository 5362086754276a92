/**
 * `npm run chaos [-- --seed N] [--seconds S]`: the fault soak. Starts the local runtime, runs a seeded
 * workload under injected faults, checks the invariants, prints the report, and exits 0 on PASS, 1 on
 * FAIL (or when the run itself could not run). docs/chaos.md tells what it does.
 */
import { parseChaosArgs, replayCommand } from './args';
import { runChaos } from './run';

async function main(argv: readonly string[]): Promise<number> {
  const args = parseChaosArgs(argv);
  console.log(`chaos: seed ${args.seed}; replay with: ${replayCommand(args)}`);
  const outcome = await runChaos(args, (line) => console.log(line));
  for (const line of outcome.lines) console.log(line);
  return outcome.passed ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(
      `chaos FAIL: the run could not complete: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    process.exit(1);
  },
);
