/**
 * fauxqs (SQS, and S3 for attachments) listening on loopback only, in this process or, run as a script,
 * in a process of its own: then a chaos run can freeze the queues alone (SIGSTOP) while the handlers
 * keep running, as it freezes DynamoDB Local. As a script it prints its port as one JSON line, and it
 * ends when its stdin closes: the pipe only its parent holds, so it ends however the parent ends.
 */
import * as path from 'node:path';
import { LOOPBACK_HOST, refuseForeignRequest } from './loopback';

/** The region fauxqs names its queues in. */
export const QUEUE_EMULATOR_REGION = 'us-east-1';

/** A listening fauxqs. */
export interface ListeningQueueEmulator {
  port: number;
  close(): Promise<void>;
}

/**
 * Starts fauxqs's app on loopback; 0 picks a free port. fauxqs's own `startFauxqs` always listens on
 * 0.0.0.0, so its app is started here instead. It also answers any browser: its SNS actions take a form
 * POST, which needs no preflight, so another site's page could subscribe the fan-out queue to a topic
 * and publish into it. A request with an `Origin` or a non-loopback Host is refused before fauxqs sees
 * it (the S3 front, which admits the web page, forwards without the Origin).
 */
export async function listenQueueEmulator(port: number): Promise<ListeningQueueEmulator> {
  // fauxqs is ESM-only and exports no `require` condition, so tsx's CommonJS require cannot load it.
  const { buildApp } = await import('fauxqs');
  const app = buildApp({ logger: false, defaultRegion: QUEUE_EMULATOR_REGION });
  app.addHook('onRequest', async (request, reply) => {
    const refusal = refuseForeignRequest(request.headers);
    if (refusal !== undefined) return reply.code(refusal.status).send({ message: refusal.message });
  });
  await app.listen({ port, host: LOOPBACK_HOST });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('fauxqs did not report its port');
  return { port: address.port, close: () => app.close() };
}

/** The line the script prints once it listens. */
export interface QueueEmulatorReady {
  port: number;
}

async function runAsProcess(): Promise<void> {
  const emulator = await listenQueueEmulator(Number(process.argv[2] ?? 0));
  const ready: QueueEmulatorReady = { port: emulator.port };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  // Its parent is gone (or stopped it) when stdin ends: nothing else would ever stop it.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

// Run as a script (`node --import tsx local/queue-emulator.ts PORT`), not imported.
if (path.resolve(process.argv[1] ?? '') === __filename) {
  runAsProcess().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
