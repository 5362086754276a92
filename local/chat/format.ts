/** How the chat's lines read: safe text, times, terminal styles and the one-line forms of its events. */
import { type ActivityEvent, ChatRequestError, describeMembership, type MembershipEvent } from '../../client';
import { type ErrorAction, errorWords } from '../../client/error-words';

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

/** The start of a message for a one-line note: its first 40 characters, made printable. */
export const preview = (body: string): string => {
  const chars = [...printable(body)];
  return chars.length > 40 ? `${chars.slice(0, 39).join('')}…` : chars.join('');
};

/** Terminal styles (SGR on and off codes): errors, states and the conversation id stand out. */
export type Style = 'dim' | 'bold' | 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan';
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
export interface Line {
  plain: string;
  styled: string;
}

/** A line from parts: plain text, or text with the styles to show it in. */
export function line(...parts: Array<string | [string, ...Style[]]>): Line {
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

/** A message as the transcript shows it: time, sender (own ones in cyan), body, and its state if any. */
export function messageLine(
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

/**
 * A message in another conversation, `count` of them heard so far:
 * `[<its name>] 2 new from bob: lunch?` (the preview cut to 40 characters; the id when no name is given).
 */
export function activityText(
  activity: Pick<ActivityEvent, 'conversationId' | 'senderId' | 'preview' | 'attachment'>,
  count: number,
  name = activity.conversationId,
): string {
  const body = `${activity.attachment ? '📎 ' : ''}${preview(activity.preview)}`;
  return `[${printable(name)}] ${count} new from ${printable(activity.senderId)}: ${body}`;
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

/**
 * What went wrong, for the user: a refusal of `action` as one sentence (client/error-words.ts, shared with
 * the web page), or another error with its cause.
 */
export const errorText = (err: unknown, action: ErrorAction): string => {
  if (err instanceof ChatRequestError) return errorWords(err.code, action, err.message);
  if (!(err instanceof Error)) return String(err);
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'There is no such file.';
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return `${err.message}${cause}`;
};
