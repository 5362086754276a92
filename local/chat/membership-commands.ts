/** The terminal client's say over who reaches you and who runs a group: /block, /unblock, /promote, /accept, /decline. */
import type { ChatClient } from '../../client';
import { errorText, line, printable } from './format';
import type { Screen } from './screen';

/** One of the commands of this file, as ./args.ts reads it. */
export type MembershipCommand =
  | { kind: 'block' | 'unblock' | 'promote'; userId: string }
  | { kind: 'accept' | 'decline'; conversationId: string };

/** Shows each invitation to a group as it arrives, with the command that accepts it. */
export function showInvitations(chat: ChatClient, screen: Pick<Screen, 'note'>): void {
  chat.on('invitation', ({ conversationId, invitedBy, title }) => {
    const what = title === undefined ? 'a group' : `"${printable(title)}"`;
    const id = printable(conversationId);
    screen.note(
      line([`${printable(invitedBy)} invited you to ${what}: /accept ${id} or /decline ${id}`, 'cyan']),
    );
  });
}

/**
 * Joining a group one was invited to, by naming it (`--conversation <id>`), accepts the invitation and
 * says so: the user chose that group. One `listInvitations` request, and an `accept` when one is pending;
 * anything else is left to the subscribe, which refuses a conversation the user is not in.
 */
export async function acceptOnJoin(
  chat: ChatClient,
  conversationId: string,
  screen: Pick<Screen, 'show'>,
): Promise<void> {
  const invitation = (await chat.listInvitations()).find((i) => i.conversationId === conversationId);
  if (invitation === undefined) return;
  const { joined } = await chat.accept(conversationId);
  if (!joined) return;
  const what = invitation.title === undefined ? 'their group' : `"${printable(invitation.title)}"`;
  screen.show(line(['✓', 'green'], ` accepted ${printable(invitation.invitedBy)}'s invitation to ${what}`));
}

/** Runs one command in conversation `conversationId` (the one /promote acts in) and says how it went. */
export async function runMembershipCommand(
  chat: ChatClient,
  conversationId: string,
  command: MembershipCommand,
  screen: Pick<Screen, 'note'>,
): Promise<void> {
  const done = (text: string) => screen.note(line(['✓', 'green'], ` ${text}`));
  try {
    if (command.kind === 'block') {
      await chat.block(command.userId);
      done(`blocked ${printable(command.userId)}: no direct messages or group adds from them`);
    } else if (command.kind === 'unblock') {
      await chat.unblock(command.userId);
      done(`unblocked ${printable(command.userId)}`);
    } else if (command.kind === 'promote') {
      const { promoted } = await chat.promote(conversationId, command.userId);
      done(
        promoted
          ? `${printable(command.userId)} is now an admin`
          : `${printable(command.userId)} was an admin already`,
      );
    } else if (command.kind === 'accept') {
      const { joined } = await chat.accept(command.conversationId);
      const id = printable(command.conversationId);
      done(joined ? `joined ${id}: join it with --conversation ${id}` : `no invitation to ${id} is pending`);
    } else if (command.kind === 'decline') {
      await chat.decline(command.conversationId);
      done(`declined ${printable(command.conversationId)}`);
    }
  } catch (error: unknown) {
    screen.note(line([`✗ could not ${command.kind}: ${errorText(error, command.kind)}`, 'red']));
  }
}
