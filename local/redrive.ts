/**
 * `npm run redrive [-- --queue fanout|shards] [--dry-run] [--max N] [--include-poison]`: invokes the
 * dlq function of the running local runtime, which moves dead letters back to their queue in their
 * message group, exactly as `aws lambda invoke --function-name <RedriveFunctionName>` does on AWS.
 * Without `--queue` it redrives both dead-letter queues, the fan-out DLQ first: an operator who fixed
 * a cause wants every letter it stranded back.
 */
import { REDRIVE_QUEUES, type RedriveQueue } from '../lambdas/dlq/redrive';
import { readState } from './state';

const isRedriveQueue = (value: string | undefined): value is RedriveQueue =>
  REDRIVE_QUEUES.some((queue) => queue === value);

/** Turns command-line flags into the redrive function's input. */
export function redriveInput(args: readonly string[]): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--dry-run') input.dryRun = true;
    else if (arg === '--include-poison') input.includePoison = true;
    else if (arg === '--max') {
      const value = Number(args[++i]);
      if (!Number.isInteger(value) || value < 1) throw new Error('--max takes a whole number of letters');
      input.maxMessages = value;
    } else if (arg === '--queue') {
      const queue = args[++i];
      if (!isRedriveQueue(queue)) throw new Error(`--queue takes ${REDRIVE_QUEUES.join(' or ')}`);
      input.queue = queue;
    } else {
      throw new Error(
        `Unknown option ${arg}; use --queue fanout|shards, --dry-run, --max N, --include-poison`,
      );
    }
  }
  return input;
}

/** One invocation per dead-letter queue to redrive: the one `--queue` named, or each in turn. */
export function redriveRuns(input: Record<string, unknown>): Record<string, unknown>[] {
  if (input.queue !== undefined) return [input];
  return REDRIVE_QUEUES.map((queue) => ({ ...input, queue }));
}

/** Invokes the redrive through the control plane and returns its summary. */
export async function invokeRedrive(controlUrl: string, input: Record<string, unknown>): Promise<unknown> {
  const response = await fetch(`${controlUrl}/functions/dlq/invocations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  const result: unknown = await response.json();
  if (!response.ok || response.headers.get('x-amz-function-error') !== null) {
    throw new Error(`Redrive failed: ${JSON.stringify(result)}`);
  }
  return result;
}

/**
 * Flags are checked before the runtime is looked up, and every failure ends as one line on stderr.
 * Prints each queue's summary under its name; a failed queue stops the run before the next.
 */
async function main(args: readonly string[]): Promise<void> {
  const runs = redriveRuns(redriveInput(args));
  const state = readState();
  const summaries: Record<string, unknown> = {};
  for (const run of runs) summaries[String(run.queue)] = await invokeRedrive(state.controlUrl, run);
  console.log(JSON.stringify(summaries, null, 2));
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
