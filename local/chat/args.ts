/** The command line and the lines typed into the chat: what each asks for, or why it cannot be run. */
import { LIMITS } from '../../shared/limits';
import { conversationIdSchema, inviteCodeSchema, userIdSchema } from '../../shared/protocol';
import type { MembershipCommand } from './membership-commands';
import { parseRoomCommand, type RoomCommand, type RoomStart } from './rooms';

/** The commands a line may be; `/help` shows them, and so does a line that is none of them. */
export const COMMANDS = `  /edit <seq> <text>     replace the body of your message #seq (its number is shown once sent: ✓ #seq)
  /delete <seq>          delete your message #seq
  /attach <path> [text]  upload a file (.png .jpg .jpeg .gif .webp .pdf, up to 10 MiB) and send it,
                         with the text (default: the file's name); quote a path with spaces: "a b.png"
  /leave                 leave the conversation (not a direct one), once what you typed before it
                         is sent, and exit
  /promote <user>        make a member an admin (admins only)
  /block <user>          block a user: no direct conversation with you, no adding you to groups
  /unblock <user>        unblock them
  /accept <id>           accept an invitation to a group (it is shown when it arrives)
  /decline <id>          decline it
  /room                  in a room: its viewer count, slow mode, tick, and how others join it
  /slowmode <seconds>    in a room: set its slow mode (admins; 0 turns it off)
  /tick <ms>             in a room: viewers get at most one frame per <ms> (admins; 0-2000, 0 is off)
  /ban <user>            in a room: put them out for good, they cannot join again (admins)
  /unban <user>          in a room: lift their ban, so they may join again (admins)
  /banned [after]        in a room: who is banned, a page at a time (admins)
  /newlink               in a link room: a new invite code; the old link lets nobody in (admins)
  /help                  this list
  //<text>               send a message that starts with /: //shrug sends /shrug`;

export const USAGE = `Usage:
  npm run chat -- --user <you> --to <member>[,<member>…] [--title <text>]   create a conversation
  npm run chat -- --user <you> --conversation <id>                         join one
  npm run chat -- --user <you> --new-room <title> [--access link] [--slow-mode <s>]  create a room
  npm run chat -- --user <you> --room <id> [--code <invite code>]          join a room
  npm run chat -- --url wss://… --token <JWT> (--to … | --conversation <id>) the same on a deployment

  --user <id>            chat as this user on the running \`npm start\` (a fresh token on every reconnect)
  --url <wss://…>        a deployment's WebSocket stage URL; with --token <JWT>, whose sub is you
  --to <ids>             create a conversation with these members (comma-separated)
  --title <text>         the new conversation's title
  --conversation <id>    join a conversation you are a member of (its id is printed when it is created)
  --new-room <title>     create a room: an audience anyone signed in may join (no member cap)
  --access public|link   who may join the new room: anyone (default), or only with its link's code
  --slow-mode <seconds>  the new room's slow mode: each member posts once per that many seconds
  --room <id>            join a room (a link room with --code, the invite code printed at its creation)
  --history <n>          how many recent messages to show on join (default 20)
  --wait <seconds>       how long to wait for the server before giving up on joining (with piped
                         input) or on unsent messages when input ends (default 30)
  -h, --help             this text

Each line typed or piped in is one message, except these commands (piped input too):
${COMMANDS}
A message with a file shows it as [<type> <size>] <key> (the client does not download it).
Membership changes show as lines of their own (— alice added dave —), and a message in another of
your conversations (groups of up to 20) as [<its name>] 1 new from bob: <its first words>.
Any other line starting with / is refused, with this list; nothing is sent.
When input ends (Ctrl-D, or the end of piped input) it waits until every message is sent, then exits
(with 1 if one was not). Ctrl-C quits at once. When the conversation goes away (you left it, were
removed, or it no longer exists, as after a restart of \`npm start\`) the client says so, marks each
line it could not send ✗ (its text stays on screen to copy), and exits (with 1 unless you left).`;

/** What one line of input asks for. */
export type InputCommand =
  | { kind: 'send'; body: string }
  | { kind: 'edit'; seq: number; body: string }
  | { kind: 'delete'; seq: number }
  | { kind: 'attach'; path: string; caption?: string }
  | { kind: 'leave' }
  | { kind: 'help' }
  | MembershipCommand
  | RoomCommand
  | { kind: 'invalid'; message: string };

const ATTACH_USAGE = 'Usage: /attach <path> [text] (a path with spaces in double quotes)';

/**
 * Reads one line of input: a message, `/edit <seq> <text>`, `/delete <seq>`, `/attach <path> [text]`,
 * `/leave`, a membership command (see parseMembershipCommand), or `//…` for a message starting with `/`.
 */
export function parseInput(text: string): InputCommand {
  if (text.startsWith('//')) return { kind: 'send', body: text.slice(1) };
  const membership = parseMembershipCommand(text) ?? parseRoomCommand(text);
  if (membership !== undefined) return membership;
  if (text.trim() === '/help') return { kind: 'help' };
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
  if (command === null) {
    // A mistyped command must not reach everyone as a message.
    const unknown = /^\/([^\s/]\S*)/.exec(text)?.[1];
    return unknown === undefined
      ? { kind: 'send', body: text }
      : {
          kind: 'invalid',
          message: `There is no command /${unknown}; nothing was sent. The commands:\n${COMMANDS}`,
        };
  }
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

/**
 * `/block <user>`, `/unblock <user>`, `/promote <user>`, `/accept <id>` or `/decline <id>`, its argument
 * checked as the server would; undefined for any other line.
 */
function parseMembershipCommand(
  text: string,
): MembershipCommand | { kind: 'invalid'; message: string } | undefined {
  const parsed = /^\/(block|unblock|promote|accept|decline)(?:\s+(\S*))?\s*$/.exec(text);
  const name = /^\/(block|unblock|promote|accept|decline)(?:\s|$)/.exec(text)?.[1];
  if (name === undefined) return undefined;
  const argument = parsed?.[2] ?? '';
  if (name === 'accept' || name === 'decline') {
    return conversationIdSchema.safeParse(argument).success
      ? { kind: name, conversationId: argument }
      : { kind: 'invalid', message: `Usage: /${name} <conversation id>` };
  }
  const kind = name as 'block' | 'unblock' | 'promote';
  return userIdSchema.safeParse(argument).success
    ? { kind, userId: argument }
    : { kind: 'invalid', message: `Usage: /${name} <user id>` };
}

/**
 * `--new-room <title> [--access public|link] [--slow-mode <s>]` or `--room <id> [--code <code>]`, checked
 * as the server would; undefined when neither is given (and then none of their options may be).
 */
function roomStart(values: ReadonlyMap<string, string>): RoomStart | undefined {
  const only = (option: string, owner: string) => {
    if (values.has(option) && !values.has(owner)) throw new UsageError(`${option} goes with ${owner}`);
  };
  only('--access', '--new-room');
  only('--slow-mode', '--new-room');
  only('--code', '--room');
  const title = values.get('--new-room');
  if (title !== undefined) {
    if (values.has('--title')) throw new UsageError('--new-room takes the title: no --title');
    if (title.trim() === '' || title.length > LIMITS.maxTitleLength)
      throw new UsageError(`--new-room takes a title of 1-${LIMITS.maxTitleLength} characters`);
    const access = values.get('--access') ?? 'public';
    if (access !== 'public' && access !== 'link') throw new UsageError('--access takes public or link');
    const slow = values.get('--slow-mode') ?? '0';
    if (!/^\d+$/.test(slow) || Number(slow) > LIMITS.maxSlowModeSeconds)
      throw new UsageError(`--slow-mode takes 0-${LIMITS.maxSlowModeSeconds} seconds`);
    return { kind: 'createRoom', title, access, slowModeSeconds: Number(slow) };
  }
  const id = values.get('--room');
  if (id === undefined) return undefined;
  if (values.has('--title')) throw new UsageError('--title names a new conversation: use it with --to');
  const code = values.get('--code');
  return {
    kind: 'joinRoom',
    conversationId: checked('--room', id, conversationIdSchema),
    ...(code === undefined ? {} : { code: checked('--code', code, inviteCodeSchema) }),
  };
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
    | { kind: 'join'; conversationId: string }
    | RoomStart;
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
  '--new-room',
  '--access',
  '--slow-mode',
  '--room',
  '--code',
]);

/** The value of `name` checked by a protocol schema, or a usage error naming the option. */
function checked(
  name: string,
  value: string,
  schema: typeof userIdSchema | typeof conversationIdSchema | typeof inviteCodeSchema,
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
  if (to !== undefined && conversationId !== undefined)
    throw new UsageError('--to creates a conversation and --conversation joins one: give one of them');
  const chosen = ['--to', '--conversation', '--new-room', '--room'].filter((name) => values.has(name));
  if (chosen.length > 1)
    throw new UsageError(`${chosen.join(' and ')}: give one of them (each starts a different chat)`);
  const room = roomStart(values);
  let conversation: ChatOptions['conversation'];
  if (room !== undefined) conversation = room;
  else if (to !== undefined) {
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
      'Say whom to chat with: --to <ids> creates a conversation, --conversation <id> joins one, --new-room <title> creates a room, --room <id> joins one',
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
