/**
 * The lines under the conversation header, drawn from the SDK's `room.state`: who is online and who is
 * typing. The SDK keeps both (typing expires after LIMITS.typingShownMs; nobody is online while this
 * client's connection is down); the page only words them.
 */
import type { ConversationState } from '../../client';
import { h } from '../dom';
import { ui } from '../ui';

/**
 * Each member but you, online or offline, or unknown while this page's own connection is down (a dot
 * that stayed green then would be a guess).
 */
export function renderPresence(state: ConversationState, me: string, connected: boolean): void {
  const shown = [...new Set([...state.members, ...state.online])].filter((m) => m !== me);
  ui.conversationPresence.replaceChildren(
    ...shown.map((userId) => {
      const online = connected ? String(state.online.includes(userId)) : 'unknown';
      return h(
        'span',
        {
          class: 'member',
          'data-user': userId,
          'data-online': online,
          dir: 'auto',
          title: connected ? undefined : 'Not known while you are offline',
        },
        `${userId}${online === 'true' ? '' : online === 'false' ? ' (offline)' : ''}`,
      );
    }),
  );
}

/** "bob is typing…", "bob, carol are typing…", or nothing. */
export function renderTyping(state: ConversationState): void {
  const names = state.typing;
  ui.typing.textContent =
    names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
}
