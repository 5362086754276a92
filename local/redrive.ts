/**
 * `npm run redrive [-- --dry-run] [--max N] [--include-poison]`: invokes the dlq function of the running
 * local runtime, which moves dead letters back to the fan-out queue, exactly as
 * `aws lambda invoke --function-name <RedriveFunctionName>` does on AWS.
 */
import { readState } from './state';

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
    } else throw new Error(`Unknown option ${arg}; use --dry-run, --max N, --include-poison`);
  }
  return input;
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

/** Flags are checked before the runtime is looked up, and every failure ends as one line on stderr. */
async function main(args: readonly string[]): Promise<void> {
  const input = redriveInput(args);
  const summary = await invokeRedrive(readState().controlUrl, input);
  console.log(JSON.stringify(summary, null, 2));
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
