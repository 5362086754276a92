/**
 * One naming rule for a conversation, so that every member, in every client, sees the same kind of name.
 */

/** What naming reads of a conversation: a `listConversations` entry, a `createConversation` answer, a room's state. */
export interface NameableConversation {
  conversationId?: string;
  title?: string;
  /**
   * Its members: every one of them, or (in a `listConversations` entry of a large group) the first few,
   * with `memberCount` saying how many there are in all.
   */
  members?: readonly string[];
  /** How many members it has, when `members` may list only some of them. */
  memberCount?: number;
}

/** Names listed before the rest are counted ("alice, bob, carol and 2 others"). */
const namesShown = 3;

/**
 * The name to show for a conversation to `myUserId`: its title; else the other members' names
 * (`alice, bob`; with more than three others, `alice, bob, carol and 2 others`); else `Just you`. A
 * conversation whose members are not known (an id typed by hand, or a group the server has no names of)
 * is `Conversation <first 8 of its id>`.
 */
export function conversationName(conversation: NameableConversation, myUserId: string): string {
  const title = conversation.title?.trim();
  if (title) return title;
  const { members = [], memberCount } = conversation;
  const others = members.filter((m) => m !== myUserId);
  // A partial list names the caller or not: the others are every member but the caller.
  const complete = memberCount === undefined || memberCount <= members.length;
  const otherCount = complete ? others.length : Math.max(others.length, memberCount - 1);
  if (conversation.members === undefined || (others.length === 0 && otherCount > 0)) {
    const id = conversation.conversationId;
    return id ? `Conversation ${id.slice(0, 8)}` : 'Conversation';
  }
  if (otherCount === 0) return 'Just you';
  if (otherCount <= namesShown && others.length === otherCount) return others.join(', ');
  const shown = others.slice(0, namesShown);
  const rest = otherCount - shown.length;
  return `${shown.join(', ')} and ${rest} ${rest === 1 ? 'other' : 'others'}`;
}
