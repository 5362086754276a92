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
  Get a token  npm run token -- alice        (or: curl '${runtime.controlUrl}/token?user=alice')
  Connect      npx wscat -c "${runtime.webSocketUrl}?token=$(npm run -s token -- alice)"
  Management   ${runtime.managementEndpoint}/@connections/{connectionId}
  DynamoDB     ${runtime.endpoints.dynamodb}   (tables: ${Object.values(runtime.tables).join(', ')})
  SQS          ${runtime.endpoints.sqs}   (fan-out queue and DLQ, FIFO; from other processes use 127.0.0.1)
  Redrive      npm run redrive -- --dry-run

Ctrl-C stops everything.
`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      console.log('Forced exit');
      process.exit(1);
    }
    stopping = true;
    console.log(`\n${signal}: stopping…`);
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
