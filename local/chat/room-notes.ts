/** Who is online and who is typing in the open conversation, as notes, read from the SDK's `room.state`. */
import type { ChatClient, ConversationState, ConversationStream } from '../../client';
import { line, onlineText, presenceText, printable } from './format';
import type { Screen } from './screen';

/**
 * Notes `room.state`'s changes: who else is online once it is known (again after each reconnect, since
 * nobody is known online while this client is away), then each arrival and departure, and each member
 * who starts typing (the SDK drops them after LIMITS.typingShownMs or at their message, so one note a burst).
 */
export function noteRoomState(
  chat: Pick<ChatClient, 'state'>,
  room: Pick<ConversationStream, 'on'>,
  screen: Pick<Screen, 'note'>,
  me: string | undefined,
): void {
  /** Who was online at the last note; undefined until known (on joining, and after the connection dropped). */
  let online: Set<string> | undefined;
  let typing = new Set<string>();
  room.on('state', (state: ConversationState) => {
    for (const userId of state.typing)
      if (!typing.has(userId) && userId !== me) screen.note(line([`${printable(userId)} is typing…`, 'dim']));
    typing = new Set(state.typing);

    if (chat.state !== 'open' || state.online.length === 0) {
      online = undefined; // empty while away: not a wave of departures
      return;
    }
    const now = new Set(state.online);
    if (online === undefined) screen.note(line([onlineText([...state.online], me), 'dim']));
    else {
      for (const userId of now)
        if (!online.has(userId) && userId !== me) screen.note(line([presenceText(userId, true), 'dim']));
      for (const userId of online)
        if (!now.has(userId) && userId !== me) screen.note(line([presenceText(userId, false), 'dim']));
    }
    online = now;
  });
}
