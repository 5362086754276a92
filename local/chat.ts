/**
 * `npm run chat -- --user alice --to bob`: a terminal chat built on the client SDK (client/), against the
 * running local runtime (`npm start`) or, with `--url wss://… --token …`, a deployment. It creates or
 * joins one conversation, shows its recent history, then others' messages as they come; each line typed
 * (or piped in) is one message, shown pending until the server acks it. With piped input it exits once
 * every message is acked, so it can be scripted.
 */
import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import { clearScreenDown, createInterface, cursorTo, type Interface, moveCursor } from 'node:readline';
import WebSocket from 'ws';
import {
  type ActivityEvent,
  type AttachmentContentType,
  type ChatClient,
  type ChatMessage,
  ChatRequestError,
  type ConnectOptions,
  type ConversationStream,
  connect,
  describeMembership,
  type MembershipEvent,
  type MessageUpdate,
  type OutboxEvent,
  type ReconnectReason,
  type SendAck,
} from '../client';
import { LIMITS } from '../shared/limits';
import { conversationIdSchema, userIdSchema } from '../shared/protocol';
import { readState } from './state';

export const USAGE = `Usage:
  npm run chat -- --user <you> --to <member>[,<member>…] [--title <text>]   create a conversation
  npm run chat -- --user <you> --conversation <id>                         join one
  npm run chat -- --url wss://… --token <JWT> (--to … | --conversation <id>) the same on a deployment

  --user <id>            chat as this user on the running \`npm start\` (a fresh token on every reconnect)
  --url <wss://…>        a deployment's WebSocket stage URL; with --token <JWT>, whose sub is you
  --to <ids>             create a conversation with these members (comma-separated)
  --title <text>         the new conversation's title
  --conversation <id>    join a conversation you are a member of (its id is printed when it is created)
  --history <n>          how many recent messages to show on join (default 20)
  --wait <seconds>       how long to wait for the server before giving up on joining (with piped
                         input) or on unsent messages when input ends (default 30)
  -h, --help             this text

Each line typed or piped in is one message, except these commands (piped input too):
  /edit <seq> <text>     replace the body of your message #seq (its number is shown once sent: ✓ #seq)
  /delete <seq>          delete your message #seq
  /attach <path> [text]  upload a file (.png .jpg .jpeg .gif .webp .pdf, up to 10 MiB) and send it,
                         with the text (default: the file's name); quote a path with spaces: "a b.png"
  /leave                 leave the conversation (not a direct one)
A message with a file shows it as [<type> <size>] <key> (the client does not download it).
Membership changes show as lines of their own (— alice added dave —), and a message in another of
your conversations (groups of up to 20) as [<conversation id>] 1 new from bob: <its first words>.
A line starting with // sends the rest of it as a message beginning with /.
When input ends (Ctrl-D, or the end of piped input) it waits until every message is sent, then exits
(with 1 if one was not). Ctrl-C quits at once.`;

/** What one line of input asks for. */
export type InputCommand =
  | { kind: 'send'; body: string }
  | { kind: 'edit'; seq: number; body: string }
  | { kind: 'delete'; seq: number }
  | { kind: 'attach'; path: string; caption?: string }
  | { kind: 'leave' }
  | { kind: 'invalid'; message: string };

const ATTACH_USAGE = 'Usage: /attach <path> [text] (a path with spaces in double quotes)';

/**
 * Reads one line of input: a message, `/edit <seq> <text>`, `/delete <seq>`, `/attach <path> [text]`,
 * `/leave`, or `//…` for a message starting with `/`.
 */
export function parseInput(text: string): InputCommand {
  if (text.startsWith('//')) return { kind: 'send', body: text.slice(1) };
  if (/^\/leave(?:\s|$)/.test(text))
    return text.trim() === '/leave' ? { kind: 'leave' } : { kind: 'invalid', message: 'Usage: /leave' };
  if (/^\/attach(?:\s|$)/.test(text)) {
    const parsed = /^\/attach\s+(?:"([^"]+)"|([^\s"]+))(?:\s+(.*))?$/.exec(text.trimEnd());
    const file = parsed?.[1] ?? parsed?.[2];
    if (file === undefined) return { kind: 'invalid', message: ATTACH_USAGE };
    const caption = parsed?.[3]?.trim();
    return { kind: 'attach', path: file, ...(caption ? { caption } : {}) };
  }
  const command = /^\/(edit|delete)(?:\s+|$)/.exec(text);
  if (command === null) return { kind: 'send', body: text };
  const rest = text.slice(command[0].length);
  const parsed = /^#?(\d{1,15})(?:\s+|$)/.exec(rest);
  const seq = parsed ? Number(parsed[1]) : 0;
  if (command[1] === 'delete') {
    if (!(seq >= 1) || rest.slice(parsed?.[0].length ?? 0).trim() !== '')
      return { kind: 'invalid', message: 'Usage: /delete <seq>' };
    return { kind: 'delete', seq };
  }
  const body = parsed ? rest.slice(parsed[0].length) : '';
  if (!(seq >= 1) || body.trim() === '') return { kind: 'invalid', message: 'Usage: /edit <seq> <text>' };
  return { kind: 'edit', seq, body };
}

/** A command line that cannot be run; its message says why, and the usage follows it. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface ChatOptions {
  /** The local runtime as one of its users, or a deployment with a token. */
  server: { kind: 'local'; user: string } | { kind: 'remote'; url: string; token: string };
  conversation:
    | { kind: 'create'; members: string[]; title?: string }
    | { kind: 'join'; conversationId: string };
  historySize: number;
  waitSeconds: number;
}

export type Command = { command: 'help' } | { command: 'chat'; options: ChatOptions };

const VALUE_OPTIONS = new Set([
  '--user',
  '--url',
  '--token',
  '--to',
  '--title',
  '--conversation',
  '--history',
  '--wait',
]);

/** The value of `name` checked by a protocol schema, or a usage error naming the option. */
function checked(
  name: string,
  value: string,
  schema: typeof userIdSchema | typeof conversationIdSchema,
): string {
  const result = schema.safeParse(value);
  if (!result.success) throw new UsageError(`${name} "${value}": ${result.error.issues[0]?.message}`);
  return result.data;
}

/**
 * Turns the command line into what to run, or throws a {@link UsageError}. Options take their value
 * as the next argument or after `=` (`--title=--odd`); a value may not start with `--` otherwise.
 */
export function parseArgs(args: readonly string[]): Command {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '-h' || arg === '--help') return { command: 'help' };
    if (!arg.startsWith('--'))
      throw new UsageError(`Unexpected argument "${arg}"${i === 0 ? ` (did you mean --user ${arg}?)` : ''}`);
    const equals = arg.indexOf('=');
    const name = equals === -1 ? arg : arg.slice(0, equals);
    if (!VALUE_OPTIONS.has(name)) throw new UsageError(`Unknown option ${name}`);
    let value = equals === -1 ? args[++i] : arg.slice(equals + 1);
    if (value === undefined || (equals === -1 && value.startsWith('--')))
      throw new UsageError(`${name} needs a value`);
    if (name === '--to') value = [values.get(name), value].filter((v) => v !== undefined).join(',');
    else if (values.has(name)) throw new UsageError(`${name} is given twice`);
    values.set(name, value);
  }

  const user = values.get('--user');
  const url = values.get('--url');
  const token = values.get('--token');
  let server: ChatOptions['server'];
  if (user !== undefined && url !== undefined)
    throw new UsageError('--user is for the local runtime and --url for a deployment: give one of them');
  if (user !== undefined) {
    if (token !== undefined)
      throw new UsageError('--token goes with --url; with --user a local token is fetched for you');
    server = { kind: 'local', user: checked('--user', user, userIdSchema) };
  } else if (url !== undefined) {
    if (token === undefined) throw new UsageError('--url needs --token <JWT>');
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      throw new UsageError(`--url "${url}" is not a URL`);
    }
    if (protocol !== 'wss:' && protocol !== 'ws:')
      throw new UsageError(`--url must be a wss:// (or ws://) URL, not ${protocol}//`);
    server = { kind: 'remote', url, token };
  } else throw new UsageError('Say who you are: --user <id> on `npm start`, or --url wss://… --token <JWT>');

  const to = values.get('--to');
  const title = values.get('--title');
  const conversationId = values.get('--conversation');
  let conversation: ChatOptions['conversation'];
  if (to !== undefined && conversationId !== undefined)
    throw new UsageError('--to creates a conversation and --conversation joins one: give one of them');
  if (to !== undefined) {
    const members = [...new Set(to.split(',').map((member) => member.trim()))].filter(Boolean);
    if (members.length === 0) throw new UsageError('--to needs at least one member');
    for (const member of members) checked('--to', member, userIdSchema);
    if (title !== undefined && (title === '' || title.length > LIMITS.maxTitleLength))
      throw new UsageError(`--title takes 1-${LIMITS.maxTitleLength} characters`);
    conversation = { kind: 'create', members, ...(title === undefined ? {} : { title }) };
  } else if (conversationId !== undefined) {
    if (title !== undefined) throw new UsageError('--title names a new conversation: use it with --to');
    conversation = {
      kind: 'join',
      conversationId: checked('--conversation', conversationId, conversationIdSchema),
    };
  } else
    throw new UsageError(
      'Say whom to chat with: --to <ids> creates a conversation, --conversation <id> joins one',
    );

  const history = values.get('--history') ?? '20';
  if (!/^\d+$/.test(history)) throw new UsageError('--history takes a whole number of messages (0 for none)');
  const wait = Number(values.get('--wait') ?? '30');
  if (!(wait > 0 && Number.isFinite(wait))) throw new UsageError('--wait takes a positive number of seconds');
  return {
    command: 'chat',
    options: { server, conversation, historySize: Number(history), waitSeconds: wait },
  };
}

/**
 * The `sub` claim of a JWT, read without verifying it: only to tell the user's own messages from
 * others' (the server never tells a connection who it is).
 */
export function tokenSubject(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return typeof payload?.sub === 'string' ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Text from other people, made safe for one terminal line: line breaks become ⏎ and other control
 * characters their visible pictures, so a message can neither split its line nor steer the terminal.
 */
export function printable(text: string): string {
  return text
    .replace(/\r\n|[\n\r\u2028\u2029]/g, ' ⏎ ')
    .replace(/\t/g, ' ')
    .replace(/\p{Cc}/gu, (c) => {
      const code = c.charCodeAt(0);
      return code < 0x20 ? String.fromCharCode(0x2400 + code) : code === 0x7f ? '␡' : '�';
    });
}

/** The local time of a message: HH:MM:SS today, with the date before it on other days. */
export function clock(iso: string, now: Date = new Date()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return '--:--:--';
  const two = (n: number) => String(n).padStart(2, '0');
  const time = `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
  if (at.toDateString() === now.toDateString()) return time;
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${time}`;
}

/** Characters one column wide in every terminal this is likely to meet (besides printable ASCII). */
const NARROW = new Set(['…', '✓', '✗', '─', '⏎', '—']);

/**
 * How many rows `text` takes in a terminal `columns` wide, when that is certain: when it fits one row
 * even at two columns a character, or when every character's width is known. Emoji and CJK widths
 * vary between terminals, so a long line with them is `undefined`.
 */
export function rowsOf(text: string, columns: number): number | undefined {
  let width = 0;
  let upperBound = 0;
  for (const char of text) {
    const narrow = (char >= ' ' && char <= '~') || NARROW.has(char);
    upperBound += narrow ? 1 : 2;
    width = narrow ? width + 1 : Number.NaN;
  }
  if (upperBound < columns) return 1;
  return Number.isNaN(width) ? undefined : Math.max(1, Math.ceil(width / columns));
}

const preview = (body: string): string => {
  const chars = [...printable(body)];
  return chars.length > 40 ? `${chars.slice(0, 39).join('')}…` : chars.join('');
};

/** Terminal styles (SGR on and off codes): errors, states and the conversation id stand out. */
type Style = 'dim' | 'bold' | 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan';
const SGR: Record<Style, [number, number]> = {
  dim: [2, 22],
  bold: [1, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
};
const SENDER_COLOURS: Style[] = ['yellow', 'magenta', 'green', 'blue', 'red'];

/** One line of output, as plain text and with terminal colours. */
interface Line {
  plain: string;
  styled: string;
}

function line(...parts: Array<string | [string, ...Style[]]>): Line {
  let plain = '';
  let styled = '';
  for (const part of parts) {
    const [text, ...styles] = typeof part === 'string' ? [part] : part;
    plain += text;
    styled += styles.reduce((s, style) => `\x1b[${SGR[style][0]}m${s}\x1b[${SGR[style][1]}m`, text);
  }
  return { plain, styled };
}

function senderStyle(senderId: string, own: boolean): Style[] {
  if (own) return ['cyan', 'bold'];
  let hash = 0;
  for (const char of senderId) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0;
  return [SENDER_COLOURS[hash % SENDER_COLOURS.length] ?? 'yellow'];
}

function messageLine(
  m: { sentAt: string; senderId: string; body: string },
  own: boolean,
  state?: [string, ...Style[]],
): Line {
  return line(
    [clock(m.sentAt), 'dim'],
    '  ',
    [printable(m.senderId), ...senderStyle(m.senderId, own)],
    '  ',
    printable(m.body),
    ...(state ? ['  ', state] : []),
  );
}

/** The attachment type the server takes for a file name, by its extension; undefined for any other. */
export function contentTypeOf(file: string): AttachmentContentType | undefined {
  const types: Record<string, AttachmentContentType> = {
    '.png': 'image/png',
    '.jpg': 'image/jpeg',
    '.jpeg': 'image/jpeg',
    '.gif': 'image/gif',
    '.webp': 'image/webp',
    '.pdf': 'application/pdf',
  };
  return types[path.extname(file).toLowerCase()];
}

/**
 * The upload for `attach`: Node's `fetch`, except for a `*.localhost` URL (the local S3 signs
 * `http://<bucket>.s3.localhost:<port>`), which goes to loopback with its Host header: RFC 6761 makes
 * those names loopback, but glibc does not resolve them (browsers and the runtime's process do).
 */
export const uploadFetch: NonNullable<ConnectOptions['fetch']> = async (url, init) => {
  const target = new URL(url);
  if (target.protocol !== 'http:' || !/(^|\.)localhost$/.test(target.hostname))
    return fetch(url, init as RequestInit);
  const body = init.body instanceof Uint8Array ? init.body : new Uint8Array(await init.body.arrayBuffer());
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port: target.port || 80,
        path: `${target.pathname}${target.search}`,
        method: init.method,
        headers: { ...init.headers, host: target.host },
      },
      (response) => {
        response.resume();
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          resolve({ ok: status >= 200 && status < 300, status });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
};

/**
 * A message in another conversation, `count` of them heard so far:
 * `[<conversation id>] 2 new from bob: lunch?` (the preview cut to 40 characters).
 */
export function activityText(
  activity: Pick<ActivityEvent, 'conversationId' | 'senderId' | 'preview' | 'attachment'>,
  count: number,
): string {
  const body = `${activity.attachment ? '📎 ' : ''}${preview(activity.preview)}`;
  return `[${printable(activity.conversationId)}] ${count} new from ${printable(activity.senderId)}: ${body}`;
}

/** Who else is online in the conversation, as the join shows it: `online: bob, carol` or `nobody else is online`. */
export function onlineText(online: string[], me: string | undefined): string {
  const others = online.filter((userId) => userId !== me).map(printable);
  return others.length === 0 ? 'nobody else is online' : `online: ${others.join(', ')}`;
}

/** A presence change: `● bob is online`, `○ bob went offline`. */
export function presenceText(userId: string, online: boolean): string {
  return online ? `● ${printable(userId)} is online` : `○ ${printable(userId)} went offline`;
}

/** A membership change as a line: `— alice added dave —`, `— bob left —`. */
export function membershipText(event: Pick<MembershipEvent, 'kind' | 'userIds' | 'by'>): string {
  return `— ${describeMembership(event, printable)} —`;
}

/** How a message's file is shown (it is never downloaded): `[image/png 123 B] <key>`. */
export function attachmentText(attachment: { key: string; contentType: string; size: number }): string {
  return `[${printable(attachment.contentType)} ${attachment.size} B] ${printable(attachment.key)}`;
}

/** A line shown earlier, which an own message's state may replace. */
interface Shown {
  readonly id: number;
}

interface InputHandlers {
  line(text: string): void;
  end(): void;
  interrupt(): void;
}

/** Where the chat appears: a terminal with a prompt, or plain lines for pipes and scripts. */
interface Screen {
  /** A line of the transcript. */
  show(text: Line): Shown;
  /** Changes a shown line where it stands when the screen can; else shows `note` as a line of its own. */
  replace(shown: Shown, text: Line, note: Line): void;
  /** Connection state and other news about the session, not part of the transcript. */
  note(text: Line): void;
  /** Reads the user's lines until their input ends. */
  read(handlers: InputHandlers): void;
  close(): void;
}

/** Plain lines: the transcript on stdout, one line per event; connection news on stderr. */
class PlainScreen implements Screen {
  private nextId = 0;

  show(text: Line): Shown {
    process.stdout.write(`${text.plain}\n`);
    return { id: ++this.nextId };
  }

  replace(_shown: Shown, _text: Line, note: Line): void {
    this.show(note);
  }

  note(text: Line): void {
    process.stderr.write(`${text.plain}\n`);
  }

  read(handlers: InputHandlers): void {
    const input = createInterface({
      input: process.stdin,
      crlfDelay: Number.POSITIVE_INFINITY,
      terminal: false,
    });
    input.on('line', (text) => handlers.line(text));
    input.on('close', () => handlers.end());
  }

  close(): void {}
}

const PROMPT = '> ';

/**
 * A terminal: output scrolls above a prompt line that keeps what is being typed. An own message's line
 * is rewritten in place (… then ✓) while the rows of it and of every line below it are certain;
 * otherwise its new state is printed as a line of its own.
 */
class TerminalScreen implements Screen {
  private prompt: Interface | undefined;
  private nextId = 0;
  /** The lines above the prompt, newest last, with the rows each takes (undefined: not certain). */
  private lines: Array<{ id: number; rows: number | undefined }> = [];
  private readonly out = process.stdout;

  constructor() {
    // After a resize, lines may wrap differently: none shown before is rewritten in place.
    this.out.on('resize', () => this.forgetRows());
  }

  show(text: Line): Shown {
    const id = ++this.nextId;
    this.above(text.styled);
    this.remember(id, this.rowsOf(text.plain));
    return { id };
  }

  replace(shown: Shown, text: Line, note: Line): void {
    const index = this.lines.findIndex((l) => l.id === shown.id);
    const rows = this.lines[index]?.rows;
    let up = this.prompt?.getCursorPos().rows ?? 0;
    for (const l of this.lines.slice(index)) up += l.rows ?? Number.NaN;
    if (index === -1 || rows === undefined || Number.isNaN(up) || rows !== this.rowsOf(text.plain)) {
      this.show(note);
      return;
    }
    // Save the cursor, clear the line's rows and write it anew, restore: nothing scrolls meanwhile.
    this.out.write('\x1b7');
    moveCursor(this.out, 0, -up);
    cursorTo(this.out, 0);
    this.out.write(`${'\x1b[2K\x1b[1B'.repeat(rows - 1)}\x1b[2K`);
    moveCursor(this.out, 0, 1 - rows);
    this.out.write(`${text.styled}\x1b8`);
  }

  note(text: Line): void {
    this.show(text);
  }

  read(handlers: InputHandlers): void {
    const prompt = createInterface({
      input: process.stdin,
      output: this.out,
      prompt: PROMPT,
      terminal: true,
      historySize: 100,
    });
    this.prompt = prompt;
    prompt.on('line', (text) => {
      // Readline echoed the line and moved below it: the echo gives way to the message's own line.
      // (An echo that ends at the right edge takes a row more: readline wraps it with a space.)
      const echoRows = this.rowsOf(`${PROMPT}${text} `);
      if (echoRows === undefined) this.remember(++this.nextId, undefined);
      else {
        moveCursor(this.out, 0, -echoRows);
        clearScreenDown(this.out);
      }
      handlers.line(text);
      prompt.prompt(true);
    });
    prompt.on('SIGINT', () => handlers.interrupt());
    prompt.on('close', () => {
      this.prompt = undefined;
      cursorTo(this.out, 0);
      clearScreenDown(this.out);
      handlers.end();
    });
    prompt.prompt();
  }

  close(): void {
    this.prompt?.removeAllListeners('close');
    this.prompt?.close();
    if (this.prompt) {
      cursorTo(this.out, 0);
      clearScreenDown(this.out);
    }
    this.prompt = undefined;
  }

  /** Writes a line above the prompt and redraws the prompt with what is being typed. */
  private above(styled: string): void {
    const prompt = this.prompt;
    if (prompt === undefined) {
      this.out.write(`${styled}\n`);
      return;
    }
    const { rows } = prompt.getCursorPos();
    moveCursor(this.out, 0, -rows);
    cursorTo(this.out, 0);
    clearScreenDown(this.out);
    // Readline redraws from `rows` rows above the cursor: leave that many below the new line.
    this.out.write(`${styled}\n${'\n'.repeat(rows)}`);
    prompt.prompt(true);
  }

  private rowsOf(plain: string): number | undefined {
    return rowsOf(plain, this.out.columns || 80);
  }

  private remember(id: number, rows: number | undefined): void {
    this.lines.push({ id, rows });
    // A line scrolled off the screen cannot be reached: keep those the screen still shows.
    const screenRows = (this.out.rows || 24) - 2;
    let shown = 0;
    let first = this.lines.length;
    while (first > 0 && shown + (this.lines[first - 1]?.rows ?? 1) <= screenRows) {
      first--;
      shown += this.lines[first]?.rows ?? 1;
    }
    this.lines = this.lines.slice(first);
  }

  private forgetRows(): void {
    this.lines = this.lines.map((l) => ({ ...l, rows: undefined }));
  }
}

const describe = (err: unknown): string => {
  if (err instanceof ChatRequestError) return `${err.code}: ${err.message}`;
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return `${err.message}${cause}`;
};

const REASONS: Record<ReconnectReason, string> = {
  lost: 'connection lost',
  no_answer: 'the server stopped answering',
  connection_gone: 'the server dropped this connection',
  max_age: 'the connection reached its age limit',
};

/** Asks the running local runtime for a fresh token (it re-reads where the runtime is, every time). */
async function localToken(user: string): Promise<string> {
  const { controlUrl } = readState();
  const response = await fetch(`${controlUrl}/token?user=${encodeURIComponent(user)}&format=text`);
  const text = (await response.text()).trim();
  if (!response.ok) throw new Error(`the token endpoint answered HTTP ${response.status}: ${text}`);
  return text;
}

/** How long "bob is typing…" counts as one burst (the server sends one per 3 s at most). */
const TYPING_SHOWN_MS = 4_000;

/** A message this client sent, from `pending` to `sent` or `failed`. */
interface OwnMessage {
  body: string;
  shown: Shown;
  state: 'pending' | 'sent' | 'failed';
  /** A stored message of this user that came before the ack and matched this one's body. */
  early?: ChatMessage;
}

/**
 * One conversation on screen: history, then live messages in seq order, and the user's own messages
 * with their state. Own messages are shown when typed, so their copies in the stream are skipped.
 */
class ConversationView {
  private readonly own = new Map<string, OwnMessage>();
  private readonly ownSeqs = new Set<number>();
  /** The seqs on screen: edits and deletes of these are shown. */
  private readonly shownSeqs = new Set<number>();
  /** Who is typing, until when (ms): "bob is typing…" is noted once per burst. */
  private readonly typing = new Map<string, number>();
  private readSeq = 0;
  /** Own sends not yet acked or failed, and the newest seq acked: see sent(). */
  private sendsInFlight = 0;
  private newestOwnSeq = 0;
  /** Live messages and membership changes that came while the history was read; shown after it. */
  private held: Array<ChatMessage | MembershipEvent> | undefined = [];
  /** `activity` heard per other conversation, for "[id] 2 new from bob". */
  private readonly elsewhere = new Map<string, number>();
  private readonly acks: Promise<unknown>[] = [];

  constructor(
    private readonly chat: ChatClient,
    private readonly stream: ConversationStream,
    private readonly screen: Screen,
    private readonly me: string | undefined,
  ) {
    stream.on('message', (m) => this.received(m));
    stream.on('membership', (event) => this.membershipChanged(event));
    stream.on('update', (u) => this.updated(u));
    chat.on('activity', (activity) => {
      if (activity.conversationId === stream.conversationId) return;
      const count = (this.elsewhere.get(activity.conversationId) ?? 0) + 1;
      this.elsewhere.set(activity.conversationId, count);
      screen.note(line([activityText(activity, count), 'dim']));
    });
    // A change elsewhere that names this user: added to a conversation, removed, or left from another terminal.
    chat.on('membership', (event) => {
      if (event.conversationId === stream.conversationId || me === undefined || !event.userIds.includes(me))
        return;
      screen.note(line([`[${printable(event.conversationId)}] ${membershipText(event)}`, 'dim']));
    });
    chat.on('presence', ({ userId, online }) => {
      if (userId !== me) screen.note(line([presenceText(userId, online), 'dim']));
    });
    stream.on('typing', ({ userId }) => {
      const now = Date.now();
      if ((this.typing.get(userId) ?? 0) < now) screen.note(line([`${printable(userId)} is typing…`, 'dim']));
      this.typing.set(userId, now + TYPING_SHOWN_MS);
    });
    chat.on('outbox', (event) => {
      if (event.entry.conversationId === stream.conversationId) this.outbox(event);
    });
  }

  /** Shows up to `size` messages before the ones that come live, then whatever came meanwhile. */
  async showHistory(size: number): Promise<void> {
    let history: ChatMessage[] = [];
    let changes: MembershipEvent[] = [];
    let hasMore = size > 0;
    while (history.length < size && hasMore) {
      const page = await this.stream.loadOlder(Math.min(LIMITS.maxPageSize, size - history.length));
      history = [...page.messages, ...history];
      changes = [...page.membership, ...changes];
      hasMore = page.hasMore;
    }
    history = history.slice(-size);
    if (history.length > 0) {
      const older = hasMore ? `; older ones with --history ${size * 2}` : '';
      this.screen.show(line([`── ${history.length} earlier messages${older} ──`, 'dim']));
    } else if (size > 0) this.screen.show(line(['── no messages yet ──', 'dim']));
    // The changes among the messages shown (all of them when the history was read to its start).
    const from = hasMore ? (history[0]?.seq ?? Number.POSITIVE_INFINITY) : 0;
    const entries = [...history, ...changes.filter((c) => c.seq > from)].sort((a, b) => a.seq - b.seq);
    for (const entry of entries) {
      if ('kind' in entry) {
        this.showMembership(entry);
        continue;
      }
      this.shownSeqs.add(entry.seq);
      this.screen.show(
        messageLine(entry, entry.senderId === this.me, entry.editedAt ? ['(edited)', 'dim'] : undefined),
      );
      this.showAttachment(entry);
    }
    const held = this.held ?? [];
    this.held = undefined;
    for (const entry of held) {
      if ('kind' in entry) this.membershipChanged(entry);
      else this.received(entry);
    }
    this.markRead();
  }

  /** A line of input: a message to send, or an `/edit` or `/delete` command. */
  input(text: string): void {
    const command = parseInput(text);
    const { conversationId } = this.stream;
    if (command.kind === 'send') {
      if (command.body.trim() !== '')
        this.acks.push(this.sent(this.chat.send(conversationId, command.body).acked));
    } else if (command.kind === 'invalid') this.screen.note(line([command.message, 'yellow']));
    else if (command.kind === 'attach') this.acks.push(this.attach(command.path, command.caption));
    else if (command.kind === 'leave')
      this.acks.push(
        this.chat.leave(conversationId).then(
          () => this.screen.show(line(['✓', 'green'], ' you left the conversation (Ctrl-D quits)')),
          (error: unknown) => this.screen.note(line([`✗ could not leave: ${describe(error)}`, 'red'])),
        ),
      );
    else {
      const done =
        command.kind === 'edit'
          ? this.chat.edit(conversationId, command.seq, command.body)
          : this.chat.delete(conversationId, command.seq);
      const what = command.kind === 'edit' ? 'edit' : 'delete';
      this.acks.push(
        done.then(
          (ack) => {
            // Its push is shown as for anyone's edit; a message not on screen is confirmed here.
            if (!this.shownSeqs.has(ack.seq))
              this.screen.show(
                line(['✓', 'green'], ` ${what === 'edit' ? 'edited' : 'deleted'} #${ack.seq}`),
              );
          },
          (error: unknown) =>
            this.screen.note(line([`✗ could not ${what} #${command.seq}: ${describe(error)}`, 'red'])),
        ),
      );
    }
  }

  /**
   * Uploads a file and sends it with `caption` (default: the file's name). Resolves once the message
   * is acked or failed, or at once when the file cannot be read or the upload is refused (said why).
   */
  private async attach(file: string, caption: string | undefined): Promise<void> {
    const contentType = contentTypeOf(file);
    const name = path.basename(file);
    if (contentType === undefined) {
      this.screen.note(
        line([`✗ cannot attach ${printable(name)}: only .png .jpg .jpeg .gif .webp .pdf`, 'red']),
      );
      return;
    }
    try {
      const bytes = await readFile(file);
      this.screen.note(
        line([`Uploading ${printable(name)} (${contentType}, ${bytes.byteLength} B)…`, 'dim']),
      );
      const { acked } = await this.chat.attach(
        this.stream.conversationId,
        bytes,
        contentType,
        caption ?? name,
      );
      await this.sent(acked);
    } catch (error: unknown) {
      this.screen.note(line([`✗ could not attach ${printable(name)}: ${describe(error)}`, 'red']));
    }
  }

  counts(): { sent: number; failed: number; pending: number } {
    const states = [...this.own.values()].map((m) => m.state);
    const count = (state: OwnMessage['state']) => states.filter((s) => s === state).length;
    return { sent: count('sent'), failed: count('failed'), pending: count('pending') };
  }

  /** Resolves when every message sent so far is acked or failed, or after `ms`. */
  async settled(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.acks),
      new Promise((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
    clearTimeout(timer);
  }

  /** An edit or delete of a message on screen, as a line of its own. */
  private updated(u: MessageUpdate): void {
    if (!this.shownSeqs.has(u.seq)) return;
    this.screen.show(
      u.deleted
        ? line(['✗', 'red'], ` deleted #${u.seq}`)
        : line(['✎', 'cyan'], ` edited #${u.seq}: ${printable(u.body)}`),
    );
  }

  /**
   * Tracks one own send. Sending implies having read what came before, as in every chat app: once no
   * own send is left in flight, the read cursor moves to the newest one acked, so a user's own messages
   * never count as unread to them, even when they quit before their pushes come back. Resolves after
   * that move, so a quit that waits for the acks waits for it too; never rejects (the outbox event
   * shows a failed send).
   */
  private async sent(acked: Promise<SendAck>): Promise<void> {
    this.sendsInFlight += 1;
    try {
      const ack = await acked;
      this.newestOwnSeq = Math.max(this.newestOwnSeq, ack.seq);
    } catch {
      // Shown by its outbox event.
    } finally {
      this.sendsInFlight -= 1;
      if (this.sendsInFlight === 0 && this.newestOwnSeq > this.readSeq) {
        this.readSeq = this.newestOwnSeq;
        await this.chat.markRead(this.stream.conversationId, this.readSeq).catch(() => undefined);
      }
    }
  }

  /** Moves the read cursor to the last message delivered (once per burst of messages). */
  private markRead(): void {
    const seq = this.stream.lastSeq ?? 0;
    if (seq <= this.readSeq) return;
    this.readSeq = seq;
    queueMicrotask(() => {
      const latest = this.stream.lastSeq ?? 0;
      this.chat.markRead(this.stream.conversationId, latest).catch(() => undefined);
    });
  }

  /** A live membership change, after the history. */
  private membershipChanged(event: MembershipEvent): void {
    if (this.held) this.held.push(event);
    else this.showMembership(event);
  }

  private showMembership(event: MembershipEvent): void {
    this.screen.show(line([clock(event.at), 'dim'], '  ', [membershipText(event), 'dim']));
  }

  private received(m: ChatMessage): void {
    if (this.held) {
      this.held.push(m);
      return;
    }
    this.shownSeqs.add(m.seq);
    this.typing.delete(m.senderId);
    this.markRead();
    if (this.ownSeqs.has(m.seq)) return;
    if (m.senderId === this.me) {
      // Its push may come before its ack. The outbox sends one message of a conversation at a time,
      // so only the oldest pending one can be stored yet.
      const sending = [...this.own.values()].find((o) => o.state === 'pending');
      if (sending !== undefined && sending.early === undefined && sending.body === m.body) {
        sending.early = m;
        return;
      }
    }
    this.screen.show(messageLine(m, m.senderId === this.me));
    this.showAttachment(m);
  }

  private showAttachment(m: Pick<ChatMessage, 'attachment'>): void {
    if (m.attachment) this.screen.show(line(['   ', 'dim'], [attachmentText(m.attachment), 'dim']));
  }

  private outbox(event: OutboxEvent): void {
    const { entry } = event;
    const known = this.own.get(entry.clientMessageId);
    if (event.status === 'pending') {
      const shown =
        known?.shown ??
        this.screen.show(
          messageLine(
            { sentAt: new Date(entry.createdAt).toISOString(), senderId: this.me ?? 'you', body: entry.body },
            true,
            ['…', 'dim'],
          ),
        );
      this.own.set(entry.clientMessageId, { body: entry.body, shown, state: 'pending' });
      if (known === undefined && entry.attachment) this.showAttachment(entry);
      return;
    }
    if (known === undefined) return;
    const sender = this.me ?? 'you';
    if (event.status === 'sent') {
      known.state = 'sent';
      this.ownSeqs.add(event.ack.seq);
      this.shownSeqs.add(event.ack.seq);
      this.screen.replace(
        known.shown,
        messageLine({ sentAt: event.ack.sentAt, senderId: sender, body: entry.body }, true, [
          `✓ #${event.ack.seq}`,
          'green',
        ]),
        line(['✓', 'green'], ` sent (#${event.ack.seq}): ${preview(entry.body)}`),
      );
    } else {
      known.state = 'failed';
      const reason = describe(event.error);
      this.screen.replace(
        known.shown,
        messageLine(
          { sentAt: new Date(entry.createdAt).toISOString(), senderId: sender, body: entry.body },
          true,
          [`✗ not sent: ${reason}`, 'red'],
        ),
        line(['✗', 'red'], ` not sent (${reason}): ${preview(entry.body)}`),
      );
    }
    // What matched this message's body before the ack was another message of the same user.
    if (known.early !== undefined && (event.status === 'failed' || known.early.seq !== event.ack.seq))
      this.screen.show(messageLine(known.early, true));
    known.early = undefined;
  }
}

/** Runs the chat; resolves with the exit code. */
async function run(options: ChatOptions, screen: Screen, interactive: boolean): Promise<number> {
  const { server } = options;
  const me = server.kind === 'local' ? server.user : tokenSubject(server.token);
  const url = server.kind === 'local' ? readState().webSocketUrl : server.url;

  // The `ws` package (Node 20 has no global WebSocket), watched for why a connection attempt failed
  // and for the socket to close when the chat ends: the SDK reports neither.
  const sockets = new Set<WebSocket>();
  /** Why the connection failed: its socket's error, or a token that could not be had. */
  let lastError: string | undefined;
  class WatchedWebSocket extends WebSocket {
    constructor(address: string) {
      super(address);
      sockets.add(this);
      this.on('error', (err) => {
        lastError = `${REASONS.lost}: ${err.message}`;
      });
      this.on('open', () => {
        lastError = undefined;
      });
      this.on('close', () => sockets.delete(this));
    }
  }
  const chat = connect({
    url,
    ...(server.kind === 'local' ? { tokenProvider: () => localToken(server.user) } : { token: server.token }),
    WebSocket: WatchedWebSocket,
    fetch: uploadFetch,
  });

  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let done = false;
  const end = (code: number, message?: Line) => {
    if (done) return;
    done = true;
    if (message) screen.note(message);
    finish(code);
  };
  const fatal = (message: string) => end(1, line([message, 'red']));

  let everOpened = false;
  let lastWhy: string | undefined;
  chat.on('connecting', ({ attempt }) => {
    if (attempt === 0) screen.note(line([`Connecting to ${url} as ${me ?? 'the token’s user'}…`, 'dim']));
  });
  chat.on('open', () => {
    screen.note(line([everOpened ? 'Reconnected.' : 'Connected.', 'dim']));
    everOpened = true;
    lastWhy = undefined;
  });
  chat.on('reconnecting', ({ attempt, delayMs, reason }) => {
    const why = (reason === 'lost' && lastError) || REASONS[reason];
    const refused = /Unexpected server response: (401|403)/.exec(lastError ?? '');
    if (refused && server.kind === 'remote') {
      fatal(`The server refused the token (HTTP ${refused[1]}); tokens expire: get a fresh one`);
      return;
    }
    // The reason once, not on every attempt of a long outage.
    const retry = `reconnecting in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt})`;
    screen.note(line([why === lastWhy ? `… ${retry}` : `${why}; ${retry}`, 'yellow']));
    lastWhy = why;
    lastError = undefined;
  });
  chat.on('error', ({ error }) => {
    // While dialling, it is the token provider's: the `reconnecting` that follows says it.
    if (chat.state === 'connecting') lastError = `no token: ${describe(error)}`;
    else screen.note(line([describe(error), 'yellow']));
  });
  chat.on('closed', ({ reason }) => {
    if (reason === 'gave_up') fatal('Gave up reconnecting');
  });

  let view: ConversationView | undefined;
  /** Quits at once, saying what is lost: the outbox lives in memory. */
  const quit = (code: number) => {
    const unsent = view?.counts().pending ?? 0;
    end(code, unsent > 0 ? line([`Quit; ${unsent} message(s) not sent.`, 'yellow']) : undefined);
  };
  const onSignal = (signal: NodeJS.Signals) => quit(signal === 'SIGINT' ? 130 : 143);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const join = async (): Promise<void> => {
    const { conversation } = options;
    let conversationId: string;
    if (conversation.kind === 'create') {
      const created = await chat.createConversation(conversation.members, conversation.title);
      conversationId = created.conversationId;
      const title = created.title === undefined ? '' : ` "${printable(created.title)}"`;
      screen.show(
        line('Conversation ', [conversationId, 'bold'], ` created${title}: ${created.members.join(', ')}`),
      );
      const other = created.members.find((member) => member !== me) ?? conversation.members[0] ?? 'bob';
      const as =
        server.kind === 'local' ? `--user ${other}` : `--url ${server.url} --token <${other}'s token>`;
      screen.show(
        line('Join it from another terminal: ', [
          `npm run chat -- ${as} --conversation ${conversationId}`,
          'bold',
        ]),
      );
    } else conversationId = conversation.conversationId;
    // Before the stream moves the read cursor: how much came since this user last read (if listed).
    const unread =
      conversation.kind === 'join'
        ? await chat.listConversations(LIMITS.maxPageSize).then(
            ({ conversations }) => conversations.find((c) => c.conversationId === conversationId)?.unread,
            () => undefined,
          )
        : undefined;
    const stream = chat.conversation(conversationId);
    stream.on('error', (error) => fatal(`Cannot read the conversation: ${describe(error)}`));
    view = new ConversationView(chat, stream, screen, me);
    await stream.ready;
    if (conversation.kind === 'join')
      screen.show(
        line(
          'Conversation ',
          [conversationId, 'bold'],
          ' joined',
          ...(unread ? [[` · ${unread} unread`, 'bold'] as [string, Style]] : []),
        ),
      );
    await view.showHistory(options.historySize);
    // Who is here now; presence pushes tell the changes after that.
    await chat.presence(conversationId).then(
      (online) => screen.note(line([onlineText(online, me), 'dim'])),
      () => undefined,
    );
  };

  /** The input ended: waits (bounded) for every message to be acked, then ends with the outcome. */
  const drain = async (): Promise<void> => {
    if (view === undefined || done) return;
    const waiting = view.counts().pending;
    if (waiting > 0)
      screen.note(
        line([`Waiting up to ${options.waitSeconds} s for ${waiting} message(s) to be acked…`, 'dim']),
      );
    await view.settled(options.waitSeconds * 1000);
    const { sent, failed, pending } = view.counts();
    const total = sent + failed + pending;
    const outcome = [`${sent} of ${total} messages sent`];
    if (failed > 0) outcome.push(`${failed} failed`);
    if (pending > 0) outcome.push(`${pending} still not acked after ${options.waitSeconds} s`);
    const ok = failed === 0 && pending === 0;
    end(ok ? 0 : 1, line([`${outcome.join('; ')}.`, ok ? 'green' : 'red']));
  };

  // With nobody at the keyboard, a server that never answers must not hold a script forever.
  let joinTimer: NodeJS.Timeout | undefined;
  if (!interactive)
    joinTimer = setTimeout(
      () => fatal(`Could not join within ${options.waitSeconds} s (--wait)`),
      options.waitSeconds * 1000,
    );
  join().then(
    () => {
      clearTimeout(joinTimer);
      if (done) return;
      if (interactive)
        screen.note(
          line(['Type a message and press Enter. Ctrl-D: send what is left and quit; Ctrl-C: quit', 'dim']),
        );
      screen.read({
        line: (text) => {
          if (text.trim() !== '' && !done) view?.input(text);
        },
        end: () => void drain(),
        interrupt: () => quit(view?.counts().pending ? 1 : 0),
      });
    },
    (err: unknown) => {
      clearTimeout(joinTimer);
      fatal(
        options.conversation.kind === 'create'
          ? `Could not create the conversation: ${describe(err)}`
          : `Cannot join conversation ${options.conversation.conversationId}: ${describe(err)}`,
      );
    },
  );

  const code = await finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  screen.close();
  chat.close();
  // Let the socket close with 1000 rather than vanish: the server runs $disconnect either way, sooner so.
  await Promise.race([
    Promise.all([...sockets].map((s) => new Promise((resolve) => s.once('close', resolve)))),
    new Promise((resolve) => setTimeout(resolve, 1000).unref()),
  ]);
  return code;
}

async function main(): Promise<number> {
  let command: Command;
  try {
    command = parseArgs(process.argv.slice(2));
  } catch (err: unknown) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (command.command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
  return run(command.options, interactive ? new TerminalScreen() : new PlainScreen(), interactive);
}

if (require.main === module) {
  // A reader that went away (`| head`) ends the chat quietly.
  process.stdout.on('error', () => process.exit(1));
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${describe(err)}\n`);
      process.exit(1);
    },
  );
}
