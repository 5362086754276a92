/**
 * A room's link: this page's address with `?room=<id>`, and `&code=<invite code>` for a room joined by
 * link only. Opening it signs in (or uses the session of the tab), joins the room and opens it.
 */

/** What a link (or a bare id typed in the join field) names: the room, and its invite code if any. */
export interface RoomTarget {
  conversationId: string;
  code?: string;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The link that opens and joins a room. */
export function roomLink(conversationId: string, inviteCode?: string): string {
  const url = new URL('/', location.href);
  url.searchParams.set('room', conversationId);
  if (inviteCode) url.searchParams.set('code', inviteCode);
  return url.toString();
}

/** The room a link names (`?room=…&code=…`), or undefined when it names none. */
export function roomOfLink(search: URLSearchParams): RoomTarget | undefined {
  const conversationId = search.get('room') ?? '';
  if (!ID.test(conversationId)) return undefined;
  const code = search.get('code');
  return code ? { conversationId, code } : { conversationId };
}

/** What the user typed in the join field: a room id, or a room link; undefined when it is neither. */
export function parseRoomInput(text: string): RoomTarget | undefined {
  const typed = text.trim();
  if (ID.test(typed)) return { conversationId: typed };
  try {
    return roomOfLink(new URL(typed).searchParams);
  } catch {
    return undefined;
  }
}

/** Takes the room's parameters out of the address bar, so a reload does not join it again. */
export function forgetRoomLink(): void {
  const url = new URL(location.href);
  url.searchParams.delete('room');
  url.searchParams.delete('code');
  history.replaceState(null, '', url);
}
