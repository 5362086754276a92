/**
 * `npm start`: the whole chat on this machine, with no AWS account and no Docker.
 * Ports: WS_PORT (3001), CONTROL_PORT (3002), DYNAMODB_PORT (8001), SQS_PORT (9324); 0 picks a free one;
 * the S3 front for browsers takes a free one. All of them on 127.0.0.1 only (local/loopback.ts): nothing
 * here is for other machines. The banner (./banner.ts) lists them.
 * LOG_LEVEL sets the handlers' Powertools log level (WARN).
 *
 * It runs as `node --import tsx`, not under the `tsx` command: that one is a parent process that relays a
 * signal and SIGKILLs its child about 60 ms later if the child has not exited, so under load the stop
 * below never ran (no `$disconnect`, no "Stopped cleanly.").
 */

import { createServer } from 'node:net';
import { startBanner } from './banner';
import { LOOPBACK_HOST } from './loopback';
import { portHolder, portInUseMessage } from './port-holder';
import { startLocalRuntime } from './runtime';
import { clearState, runningState, stateFile, writeState } from './state';

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

/** Names the process holding each busy port, so a leftover is named instead of failing later with a riddle. */
async function assertPortsFree(ports: Record<string, number>): Promise<void> {
  for (const [variable, portNumber] of Object.entries(ports)) {
    if (portNumber === 0) continue;
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(portNumber, LOOPBACK_HOST, () => probe.close(() => resolve(true)));
    });
    if (!free) throw new Error(portInUseMessage(variable, portNumber, portHolder(portNumber)));
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const ports = {
    WS_PORT: port('WS_PORT', 3001),
    CONTROL_PORT: port('CONTROL_PORT', 3002),
    DYNAMODB_PORT: port('DYNAMODB_PORT', 8001),
    SQS_PORT: port('SQS_PORT', 9324),
  };
  await assertPortsFree(ports);
  // A signal while it starts ends the start at once; DynamoDB Local, in a process group of its own
  // (below), ends with this process whatever way it ends (local/dynamodb-local.ts).
  const interruptedWhileStarting = () => {
    console.log('\nInterrupted while starting.');
    process.exit(130);
  };
  process.on('SIGINT', interruptedWhileStarting);
  process.on('SIGTERM', interruptedWhileStarting);
  const runtime = await startLocalRuntime({
    ports: {
      webSocket: ports.WS_PORT,
      control: ports.CONTROL_PORT,
      dynamodb: ports.DYNAMODB_PORT,
      sqs: ports.SQS_PORT,
    },
    logLevel: process.env.LOG_LEVEL ?? 'WARN',
    // A terminal's Ctrl-C signals its whole process group; DynamoDB Local must outlive it until stop()
    // has run the $disconnect handlers of the sockets still open, which write to it.
    servicesInOwnProcessGroup: true,
    onLog: (line) => console.log(`${time()}  ${line}`),
  });
  // The first runtime keeps the state file, so the helper commands never lose it to a second one.
  const other = runningState();
  const ownsState = other === undefined;
  if (ownsState) {
    writeState({
      pid: process.pid,
      webSocketUrl: runtime.webSocketUrl,
      managementEndpoint: runtime.managementEndpoint,
      controlUrl: runtime.controlUrl,
    });
  } else {
    console.log(
      `Another npm start (pid ${other.pid}) owns ${stateFile()}: npm run token/ws/chat talk to that one. ` +
        'Start this one with RUNTIME_STATE_FILE=<another file> to use them here.',
    );
  }
  const releaseState = () => {
    if (ownsState) clearState();
  };
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(startBanner(runtime, seconds));

  // A terminal's Ctrl-C reaches every process of the group, and npm forwards its own copy to this one
  // as well, so one keypress arrives twice within milliseconds. Only a signal that comes well after the
  // first one is someone pressing Ctrl-C again to force the exit.
  let stoppingSince: number | undefined;
  const shutdown = (signal: string) => {
    if (stoppingSince !== undefined) {
      if (performance.now() - stoppingSince < REPEATED_SIGNAL_MS) return;
      console.log('Forced exit');
      releaseState();
      process.exit(1);
    }
    stoppingSince = performance.now();
    console.log(`\n${signal}: stopping… (Ctrl-C again to force)`);
    runtime
      .stop()
      .then(() => {
        releaseState();
        console.log('Stopped cleanly.');
        process.exit(0);
      })
      .catch((err: unknown) => {
        releaseState();
        console.error(err);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // A closed terminal: the same stop, whose lines may then have nowhere to go.
  process.on('SIGHUP', () => {
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
    shutdown('SIGHUP');
  });
  // Only now: with no listener at all, even for an instant, a signal would end the process without
  // running the $disconnect handlers of the sockets still open.
  process.off('SIGINT', interruptedWhileStarting);
  process.off('SIGTERM', interruptedWhileStarting);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
