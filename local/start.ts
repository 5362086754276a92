/**
 * `npm start`: the whole chat on this machine, with no AWS account and no Docker.
 * Ports: WS_PORT (3001), CONTROL_PORT (3002), DYNAMODB_PORT (8001), SQS_PORT (9324); 0 picks a free one.
 * LOG_LEVEL sets the handlers' Powertools log level (WARN).
 */

import { startLocalRuntime } from './runtime';
import { clearState, writeState } from './state';

const port = (name: string, fallback: number): number => {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535)
    throw new Error(`${name} must be a port number`);
  return parsed;
};

/** A second signal sooner than this after the first is the same Ctrl-C delivered twice, not a new one. */
const REPEATED_SIGNAL_MS = 1500;

const time = () => new Date().toISOString().slice(11, 23);

async function main(): Promise<void> {
  const started = performance.now();
  const runtime = await startLocalRuntime({
    ports: {
      webSocket: port('WS_PORT', 3001),
      control: port('CONTROL_PORT', 3002),
      dynamodb: port('DYNAMODB_PORT', 8001),
      sqs: port('SQS_PORT', 9324),
    },
    logLevel: process.env.LOG_LEVEL ?? 'WARN',
    onLog: (line) => console.log(`${time()}  ${line}`),
  });
  writeState({
    pid: process.pid,
    webSocketUrl: runtime.webSocketUrl,
    managementEndpoint: runtime.managementEndpoint,
    controlUrl: runtime.controlUrl,
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`
serverless-chat is running locally (ready in ${seconds} s)

  WebSocket    ${runtime.webSocketUrl}?token=<JWT>
  Web chat     ${runtime.webUrl}   (open it in two windows: sign in as alice in one, bob in the other)
  Terminal     npm run chat -- --user alice --to bob      (then, as bob: npm run chat -- --user bob --conversation <id>)
  Get a token  npm run -s token -- alice     (or: curl -s '${runtime.controlUrl}/token?user=alice&format=text')
  Try it       npm run ws -- alice           (one JSON frame per line; this terminal stays busy, so use a second one)
  Management   ${runtime.managementEndpoint}/@connections/{connectionId}
  DynamoDB     ${runtime.endpoints.dynamodb}   (tables: ${Object.values(runtime.tables).join(', ')})
  SQS          ${runtime.endpoints.sqs}   (fan-out queue and DLQ, FIFO; from other processes use 127.0.0.1)
  Redrive      npm run redrive -- --dry-run

Ctrl-C stops everything. Open a second terminal for the commands above.
`);

  // A terminal's Ctrl-C reaches every process of the group, and tsx forwards its own copy to this one
  // as well, so one keypress arrives twice within milliseconds. Only a signal that comes well after the
  // first one is someone pressing Ctrl-C again to force the exit.
  let stoppingSince: number | undefined;
  const shutdown = (signal: string) => {
    if (stoppingSince !== undefined) {
      if (performance.now() - stoppingSince < REPEATED_SIGNAL_MS) return;
      console.log('Forced exit');
      clearState();
      process.exit(1);
    }
    stoppingSince = performance.now();
    console.log(`\n${signal}: stopping… (Ctrl-C again to force)`);
    runtime
      .stop()
      .then(() => {
        clearState();
        console.log('Stopped cleanly.');
        process.exit(0);
      })
      .catch((err: unknown) => {
        clearState();
        console.error(err);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
