/** The command line of `npm run chaos`: `--seed N` replays a run, `--seconds S` sets how long the workload runs. */
import { randomInt } from 'node:crypto';

export interface ChaosArgs {
  /** 0 to 2^32 − 1; the same seed tries the same workload and faults in the same order. */
  seed: number;
  /** How long the workload and its faults run, before the wait for quiet and the checks. */
  seconds: number;
}

/** The long run's length: long enough for several faults of every kind. */
export const DEFAULT_SECONDS = 300;
/** Below this the schedule has no room for a fault and its recovery. */
export const MIN_SECONDS = 20;
const MAX_SEED = 2 ** 32 - 1;

/** The command that replays a run. */
export const replayCommand = (args: ChaosArgs): string =>
  `npm run chaos -- --seed ${args.seed} --seconds ${args.seconds}`;

/**
 * Parses the flags; an absent seed is drawn at random (and printed, so the run can be replayed).
 * @throws Error naming the flag and what it takes, for anything else.
 */
export function parseChaosArgs(argv: readonly string[], drawSeed = () => randomInt(0, MAX_SEED)): ChaosArgs {
  let seed: number | undefined;
  let seconds = DEFAULT_SECONDS;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--seed') {
      seed = Number(value);
      if (value === undefined || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
        throw new Error(`--seed takes a whole number from 0 to ${MAX_SEED}`);
      }
      i++;
    } else if (flag === '--seconds') {
      seconds = Number(value);
      if (value === undefined || !Number.isInteger(seconds) || seconds < MIN_SECONDS) {
        throw new Error(`--seconds takes a whole number of at least ${MIN_SECONDS}`);
      }
      i++;
    } else {
      throw new Error(`Unknown option ${flag}; use --seed N and --seconds S`);
    }
  }
  return { seed: seed ?? drawSeed(), seconds };
}
