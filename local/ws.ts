/**
 * `npm run ws -- alice`: a raw protocol client for the running local runtime (or any deployment, with
 * `--url wss://… --token …`). Each line typed or piped in is sent as one frame; each frame received is
 * printed as one line of JSON. With piped input it exits once every frame that carried a `requestId`
 * has its reply (or after --wait seconds of silence), so it can be scripted.
 */
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { readState } from './state';

interface Options {
  user?: string;
  url?: string;
  token?: string;
  waitSeconds: number;
}

const USAGE = 'Usage: npm run ws -- <userId>   or   npm run ws -- --url wss://… --token <JWT>  [--wait 5]';

export function parseArgs(args: string[]): Options {
  const options: Options = { waitSeconds: 5 };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const next = args[++i];
      if (next === undefined) throw new Error(`${arg} needs a value. ${USAGE}`);
      return next;
    };
    if (arg === '--url') options.url = value();
    else if (arg === '--token') options.token = value();
    else if (arg === '--wait') options.waitSeconds = Number(value());
    else if (arg?.startsWith('--')) throw new Error(`Unknown option ${arg}. ${USAGE}`);
    else options.user = arg;
  }
  if (options.url === undefined && options.user === undefined) throw new Error(USAGE);
  if (!(options.waitSeconds > 0)) throw new Error(`--wait takes a positive number of seconds. ${USAGE}`);
  return options;
}

async function connectUrl(options: Options): Promise<string> {
  if (options.url !== undefined) {
    const url = new URL(options.url);
    if (options.token !== undefined) url.searchParams.set('token', options.token);
    return url.toString();
  }
  const state = readState();
  const response = await fetch(`${state.controlUrl}/token?user=${encodeURIComponent(options.user ?? '')}`);
  const body = (await response.json()) as { token?: string; message?: string };
  if (!response.ok || body.token === undefined) throw new Error(body.message ?? `HTTP ${response.status}`);
  return `${state.webSocketUrl}?token=${encodeURIComponent(body.token)}`;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const interactive = process.stdin.isTTY === true;
  const socket = new WebSocket(await connectUrl(options));
  const outstanding = new Set<string>();
  let inputDone = false;
  let quietTimer: NodeJS.Timeout | undefined;

  const finishIfDone = () => {
    if (!inputDone) return;
    clearTimeout(quietTimer);
    if (outstanding.size === 0) socket.close(1000);
    else quietTimer = setTimeout(() => socket.close(1000), options.waitSeconds * 1000);
  };

  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`The handshake was refused with HTTP ${res.statusCode}`)),
    );
    socket.once('error', reject);
  });
  if (interactive) console.error('connected; type one JSON frame per line, Ctrl-D to quit');

  socket.on('message', (data) => {
    const text = data.toString();
    console.log(text);
    try {
      const frame = JSON.parse(text) as { requestId?: unknown };
      if (typeof frame.requestId === 'string') outstanding.delete(frame.requestId);
    } catch {
      // Not JSON: printed as it came.
    }
    finishIfDone();
  });
  const lines = createInterface({ input: process.stdin, terminal: false });
  const closed = new Promise<number>((resolve) =>
    socket.once('close', (code, reason) => {
      // Closed by the other side (idle timeout, an oversize frame, the runtime stopping): say so now,
      // rather than keep reading lines that can no longer be sent.
      if (!inputDone || (code !== 1000 && code !== 1005)) {
        console.error(
          `closed by the server with ${code}${reason.length > 0 ? ` (${reason.toString()})` : ''}`,
        );
      }
      if (!inputDone) lines.close();
      resolve(code);
    }),
  );

  for await (const line of lines) {
    if (line.trim() === '') continue;
    try {
      const frame = JSON.parse(line) as { requestId?: unknown };
      if (typeof frame.requestId === 'string') outstanding.add(frame.requestId);
    } catch {
      // Sent as typed: the server answers invalid_json, which is worth seeing too.
    }
    if (socket.readyState !== WebSocket.OPEN) break;
    socket.send(line);
  }
  inputDone = true;
  finishIfDone();
  const code = await closed;
  if (code !== 1000 && code !== 1005) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
