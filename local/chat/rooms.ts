/**
 * Rooms in the terminal client: `--new-room <title>` creates one, `--room <id> [--code <code>]` joins
 * one; in the chat, `/room` says its viewer count, slow mode, tick and how others join, `/slowmode <s>`
 * sets its slow mode and `/tick <ms>` its tick (admins). In slow mode a line typed before the user's turn is said to wait: the SDK
 * sends it when the server allows. The admins' `/newlink`, `/ban`, `/unban` and `/banned` are read in
 * ./room-admin.ts; RoomWatch runs them.
 */
import { type ChatClient, ChatRequestError, type RoomAccess, type RoomInfo } from '../../client';
import { MAX_TICK_MS } from '../../shared/protocol';
import { readState } from '../state';
import { errorText, type Line, line, printable, type Style } from './format';
import { parseRoomAdminCommand, type RoomAdminCommand, runRoomAdminCommand } from './room-admin';
import type { Screen } from './screen';

/** What the command line asks of a room: create one, or join one (a link room with its invite code). */
export type RoomStart =
  | { kind: 'createRoom'; title: string; access: RoomAccess; slowModeSeconds: number }
  | { kind: 'joinRoom'; conversationId: string; code?: string };

/**
 * A line typed in a room: `/room` (about it), `/slowmode <seconds>` or `/tick <milliseconds>` (set it;
 * admins only).
 */
export type RoomCommand =
  | { kind: 'room' }
  | { kind: 'slowmode'; seconds: number }
  | { kind: 'tick'; ms: number }
  | RoomAdminCommand;

const ROOM_COMMAND_KINDS: ReadonlySet<string> = new Set<RoomCommand['kind']>([
  'room',
  'slowmode',
  'tick',
  'ban',
  'unban',
  'banned',
  'newlink',
]);

/** True when `command` is one only a room runs (RoomWatch.run). */
export const isRoomCommand = (command: { kind: string }): command is RoomCommand =>
  ROOM_COMMAND_KINDS.has(command.kind);

/**
 * Reads `/room`, `/slowmode <seconds>`, `/tick <milliseconds>` or an admin's command (./room-admin.ts);
 * undefined for any other line.
 */
export function parseRoomCommand(
  text: string,
): RoomCommand | { kind: 'invalid'; message: string } | undefined {
  if (/^\/room\s*$/.test(text)) return { kind: 'room' };
  const admin = parseRoomAdminCommand(text);
  if (admin !== undefined) return admin;
  if (/^\/tick(?:\s|$)/.test(text)) {
    const ms = Number(/^\/tick\s+(\d{1,4})\s*$/.exec(text)?.[1] ?? Number.NaN);
    return ms <= MAX_TICK_MS
      ? { kind: 'tick', ms }
      : { kind: 'invalid', message: `Usage: /tick <milliseconds> (0-${MAX_TICK_MS}; 0 turns it off)` };
  }
  if (!/^\/slowmode(?:\s|$)/.test(text)) return undefined;
  const seconds = /^\/slowmode\s+(\d{1,6})\s*$/.exec(text)?.[1];
  return seconds === undefined
    ? { kind: 'invalid', message: 'Usage: /slowmode <seconds> (0 turns it off)' }
    : { kind: 'slowmode', seconds: Number(seconds) };
}

const seconds = (count: number) => `${count} second${count === 1 ? '' : 's'}`;

/** "public", "joined by link only", with the slow mode and the tick when they are on. */
function settings(room: RoomInfo): string {
  const access = room.access === 'public' ? 'public' : 'joined by link only';
  const slow =
    room.slowModeSeconds > 0 ? `, slow mode: one message every ${seconds(room.slowModeSeconds)}` : '';
  const tick = room.tickMs > 0 ? `, tick: at most one frame every ${room.tickMs} ms` : '';
  return `${access}${slow}${tick}`;
}

/** Why a room command failed; the SDK's words for a refused tick would speak of the slow mode. */
function refusal(error: unknown, command: RoomCommand): string {
  if (command.kind === 'tick' && error instanceof ChatRequestError && error.code === 'forbidden')
    return 'Only an admin of this room can set its tick.';
  return errorText(error, command.kind === 'newlink' ? 'newLink' : 'slowMode');
}

/** How someone else joins: the command, and on the local runtime the web page's link. */
function howToJoin(room: RoomInfo, server: { kind: 'local' } | { kind: 'remote'; url: string }): Line[] {
  const code = room.inviteCode === undefined ? '' : ` --code ${room.inviteCode}`;
  const as = server.kind === 'local' ? '--user <them>' : `--url ${server.url} --token <their token>`;
  const lines = [
    line('Join it from another terminal: ', [
      `npm run chat -- ${as} --room ${room.conversationId}${code}`,
      'bold',
    ]),
  ];
  if (server.kind === 'local') {
    const link = new URL('/', readState().controlUrl);
    link.searchParams.set('room', room.conversationId);
    if (room.inviteCode !== undefined) link.searchParams.set('code', room.inviteCode);
    lines.push(line('or in a browser: ', [link.toString(), 'bold']));
  }
  return lines;
}

/** The room's id, title, viewer count and settings, as the parts of a line. */
function aboutRoom(room: RoomInfo): Array<string | [string, Style]> {
  const viewers = `${room.memberCount} viewer${room.memberCount === 1 ? '' : 's'}`;
  return [
    'Room ',
    [room.conversationId, 'bold'],
    ` "${printable(room.title)}": ${viewers} · ${settings(room)}`,
  ];
}

/** Creates or joins the room and says so; resolves with the room. */
export async function startRoom(
  chat: ChatClient,
  start: RoomStart,
  screen: Pick<Screen, 'show'>,
  server: { kind: 'local' } | { kind: 'remote'; url: string },
): Promise<RoomInfo> {
  if (start.kind === 'joinRoom') {
    const { room, joined } = await chat.joinRoom(start.conversationId, start.code);
    screen.show(line(joined ? 'Joined: ' : 'Back in: ', ...aboutRoom(room)));
    return room;
  }
  const { title, access, slowModeSeconds } = start;
  const room = await chat.createRoom(title, { access, slowModeSeconds });
  screen.show(line('Created: ', ...aboutRoom(room)));
  for (const shown of howToJoin(room, server)) screen.show(shown);
  return room;
}

/**
 * Keeps the room's slow mode in view: after each line of this user's is sent, the next one has to wait
 * its turn; a line typed before then is said to wait (the SDK resends it when the server's turn comes).
 * `/room` and `/slowmode` keep what it knows of the room up to date.
 */
export class RoomWatch {
  /** When this user's next line may go (epoch ms). */
  private nextTurnAt = 0;
  /** The lines already said to wait. */
  private readonly noted = new Set<string>();

  constructor(
    private readonly chat: ChatClient,
    private room: RoomInfo,
    private readonly screen: Pick<Screen, 'note'>,
    private readonly server: { kind: 'local' } | { kind: 'remote'; url: string },
  ) {
    chat.on('outbox', (event) => {
      if (event.entry.conversationId !== room.conversationId) return;
      if (event.status === 'sent') {
        this.nextTurnAt = Date.now() + this.room.slowModeSeconds * 1000;
        const next = chat.outbox(room.conversationId).find((entry) => entry.status === 'pending');
        if (next) this.noteWait(next.clientMessageId);
      } else if (event.status === 'pending') this.noteWait(event.entry.clientMessageId);
    });
  }

  /** Says once that a line waits its slow-mode turn, and for how long, when it does. */
  private noteWait(clientMessageId: string): void {
    const left = Math.ceil((this.nextTurnAt - Date.now()) / 1000);
    if (left <= 0 || this.noted.has(clientMessageId)) return;
    this.noted.add(clientMessageId);
    const every = seconds(this.room.slowModeSeconds);
    this.screen.note(
      line([
        `⏳ slow mode: the next line goes out in ${seconds(left)} (one message every ${every} here)`,
        'yellow',
      ]),
    );
  }

  /** Runs `/room`, `/slowmode`, `/tick` or an admin's command and says how it went. */
  async run(command: RoomCommand): Promise<void> {
    const { conversationId } = this.room;
    if (command.kind === 'ban' || command.kind === 'unban' || command.kind === 'banned')
      return runRoomAdminCommand(this.chat, conversationId, command, this.screen);
    const what = {
      room: 'read the room',
      slowmode: 'set the slow mode',
      tick: 'set the tick',
      newlink: 'make a new link',
    }[command.kind];
    try {
      this.room =
        command.kind === 'room'
          ? await this.chat.roomInfo(conversationId)
          : command.kind === 'tick'
            ? await this.chat.setTick(conversationId, command.ms)
            : command.kind === 'newlink'
              ? await this.chat.newInviteCode(conversationId)
              : await this.chat.setSlowMode(conversationId, command.seconds);
      this.screen.note(line(['✓', 'green'], ' ', ...aboutRoom(this.room)));
      if (command.kind === 'newlink')
        this.screen.note(line(['The old link lets nobody in any more.', 'dim']));
      if (command.kind === 'room' || command.kind === 'newlink')
        for (const shown of howToJoin(this.room, this.server)) this.screen.note(shown);
    } catch (error: unknown) {
      this.screen.note(line([`✗ could not ${what}: ${refusal(error, command)}`, 'red']));
    }
  }
}
