/**
 * A room's admin commands in the terminal client: `/ban <user>` (out of the room for good: they cannot
 * join again), `/unban <user>` (they may join again), `/banned [after]` (who is banned, a page at a time).
 * `/newlink`, which changes what the room knows of itself, is RoomWatch's (./rooms.ts).
 */
import type { ChatClient } from '../../client';
import { userIdSchema } from '../../shared/protocol';
import { errorText, line, printable } from './format';
import type { Screen } from './screen';

/** One of the commands of this file, as parseRoomAdminCommand reads it. */
export type RoomAdminCommand =
  | { kind: 'ban'; userId: string }
  | { kind: 'unban'; userId: string }
  | { kind: 'banned'; after?: string }
  | { kind: 'newlink' };

/** Bans listed per `/banned`: a screenful. */
const PAGE = 20;

/** Reads `/ban <user>`, `/unban <user>`, `/banned [after]` or `/newlink`; undefined for any other line. */
export function parseRoomAdminCommand(
  text: string,
): RoomAdminCommand | { kind: 'invalid'; message: string } | undefined {
  const name = /^\/(ban|unban|banned|newlink)(?:\s|$)/.exec(text)?.[1];
  if (name === undefined) return undefined;
  const argument = text.slice(name.length + 1).trim();
  if (name === 'newlink')
    return argument === '' ? { kind: 'newlink' } : { kind: 'invalid', message: 'Usage: /newlink' };
  if (name === 'banned') {
    if (argument === '') return { kind: 'banned' };
    return userIdSchema.safeParse(argument).success
      ? { kind: 'banned', after: argument }
      : { kind: 'invalid', message: 'Usage: /banned [the user id the list goes on after]' };
  }
  return userIdSchema.safeParse(argument).success
    ? { kind: name === 'ban' ? 'ban' : 'unban', userId: argument }
    : { kind: 'invalid', message: `Usage: /${name} <user id>` };
}

/** Runs `/ban`, `/unban` or `/banned` in room `conversationId` and says how it went. */
export async function runRoomAdminCommand(
  chat: ChatClient,
  conversationId: string,
  command: Exclude<RoomAdminCommand, { kind: 'newlink' }>,
  screen: Pick<Screen, 'note'>,
): Promise<void> {
  const done = (text: string) => screen.note(line(['✓', 'green'], ` ${text}`));
  try {
    if (command.kind === 'ban') {
      const who = printable(command.userId);
      const { removed } = await chat.removeMember(conversationId, command.userId);
      done(
        `${who} is banned${removed ? ' and out of the room' : ''}: they cannot join again (/unban ${who})`,
      );
    } else if (command.kind === 'unban') {
      const who = printable(command.userId);
      const { unbanned } = await chat.unbanMember(conversationId, command.userId);
      done(unbanned ? `${who} may join again` : `${who} was not banned`);
    } else {
      const page = await chat.listBanned(conversationId, {
        limit: PAGE,
        ...(command.after === undefined ? {} : { cursor: command.after }),
      });
      const names = page.banned.map((b) => `${printable(b.userId)} (by ${printable(b.by)})`);
      done(names.length === 0 ? 'nobody is banned' : `banned: ${names.join(', ')}`);
      if (page.nextCursor !== undefined)
        screen.note(line([`more: /banned ${printable(page.nextCursor)}`, 'dim']));
    }
  } catch (error: unknown) {
    const action = command.kind === 'unban' ? 'unban' : 'remove';
    screen.note(line([`✗ could not ${command.kind}: ${errorText(error, action)}`, 'red']));
  }
}
