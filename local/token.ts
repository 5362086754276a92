/** `npm run token -- alice`: prints a token the running local runtime accepts for user `alice`. */
import { readState } from './state';

async function main(): Promise<void> {
  const user = process.argv[2];
  if (user === undefined) throw new Error('Usage: npm run token -- <userId>');
  const response = await fetch(`${readState().controlUrl}/token?user=${encodeURIComponent(user)}`);
  const body = (await response.json()) as { token?: string; message?: string };
  if (!response.ok || body.token === undefined) throw new Error(body.message ?? `HTTP ${response.status}`);
  console.log(body.token);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
