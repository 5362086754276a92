/**
 * `npm run chat` in a child process, as a script or a person in a terminal runs it, for the terminal
 * client's e2e files (chat-cli*.e2e.test.ts). Each file's sessions are killed after each of its tests.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach } from 'vitest';
import WebSocket from 'ws';
import { type ChatClient, connect } from '../../client';
import type { LocalRuntime } from '../../local/runtime';

const ROOT = path.join(__dirname, '..', '..');

/**
 * The script `npm run chat` runs, as Node with tsx's loader: npm, its shell and the tsx CLI would add
 * three processes and about a second to each session's start, and test nothing of the client. A script
 * of another shape fails here, and {@link ChatCliOptions.viaNpm} runs `npm run chat` itself.
 */
function chatCommand(): string[] {
  const { scripts } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const entry = /^tsx (\S+)$/.exec(scripts.chat ?? '')?.[1];
  if (entry === undefined)
    throw new Error(`package.json's chat script is not \`tsx <entry>\`: ${scripts.chat}`);
  return ['--import', 'tsx', entry];
}
const CHAT_COMMAND = chatCommand();

export interface ChatCliOptions {
  /** Runs `npm run chat` itself, as a person types it, instead of the script's command. @default false */
  viaNpm?: boolean;
}

/** A message line of the transcript: time, sender, body (own lines add a state after two spaces). */
const MESSAGE_LINE = /^(?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d {2}(\S+) {2}(.*)$/;

/** `npm run chat` in a child process with piped stdin, as a script would run it. */
export class ChatCli {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;

  /** @param env added to this process's; RUNTIME_STATE_FILE names the runtime to use. */
  constructor(args: string[], env: Record<string, string>, options: ChatCliOptions = {}) {
    const [command, commandArgs] = options.viaNpm
      ? ['npm', ['run', '-s', 'chat', '--', ...args]]
      : [process.execPath, [...CHAT_COMMAND, ...args]];
    this.child = spawn(command, commandArgs, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      detached: true, // its own process group (with npm: npm → sh → node), so teardown can end all of it
    });
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    // `close`, not `exit`: the output may still be on its way when the process has exited.
    this.exited = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
    sessions.push(this);
  }

  type(...lines: string[]): void {
    this.child.stdin.write(lines.map((l) => `${l}\n`).join(''));
  }

  endInput(): void {
    this.child.stdin.end();
  }

  /** The bodies of the transcript's lines from `sender`, in the order they were printed. */
  messagesFrom(sender: string): string[] {
    return this.stdout
      .split('\n')
      .map((l) => MESSAGE_LINE.exec(l))
      .filter((m) => m?.[1] === sender)
      .map((m) => m?.[2] ?? '');
  }

  conversationId(): string | undefined {
    return /^Conversation (\S+)/m.exec(this.stdout)?.[1];
  }

  kill(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null)
      process.kill(-this.child.pid, 'SIGKILL');
  }
}

const sessions: ChatCli[] = [];

/** Kills the sessions a test started, after it (call once at the top of the file). */
export function killChatClisAfterEach(): void {
  afterEach(() => {
    for (const session of sessions.splice(0)) session.kill();
  });
}

/** An SDK client of `userId` on `runtime`, for the other side of a conversation. */
export const sdkClient = (runtime: LocalRuntime, userId: string): ChatClient =>
  connect({
    url: runtime.webSocketUrl,
    tokenProvider: () => runtime.issueToken(userId),
    WebSocket: WebSocket as never,
  });
