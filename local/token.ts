/**
 * `npm run token -- alice [seconds]`: prints a token the running local runtime accepts for user `alice`,
 * valid for `seconds` (default: the runtime's own, an hour). A short one shows a socket ending with its
 * token: its frames are refused `token_expired` and it is closed.
 */
import { readState } from './state';

async function main(): Promise<void> {
  const [user, seconds] = process.argv.slice(2);
  if (user === undefined) throw new Error('Usage: npm run token -- <userId> [expiresInSeconds]');
  if (seconds !== undefined && !/^[1-9][0-9]*$/.test(seconds))
    throw new Error(`expiresInSeconds must be a whole number of seconds; got '${seconds}'`);
  const query = new URLSearchParams({ user, ...(seconds === undefined ? {} : { expiresIn: seconds }) });
  const response = await fetch(`${readState().controlUrl}/token?${query}`);
  const body = (await response.json()) as { token?: string; message?: string };
  if (!response.ok || body.token === undefined) throw new Error(body.message ?? `HTTP ${response.status}`);
  console.log(body.token);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
