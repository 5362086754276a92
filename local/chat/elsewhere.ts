/** News from the user's other conversations, which are named as every client names them (client/names.ts). */
import type { ChatClient } from '../../client';
import { conversationName, type NameableConversation } from '../../client/names';
import { activityText, line, membershipText, printable } from './format';
import type { Screen } from './screen';

/** The names of the user's conversations, read from their list and read again when one is not in it. */
export class ConversationNames {
  private readonly names = new Map<string, string>();
  private reading: Promise<void> | undefined;

  constructor(
    private readonly chat: Pick<ChatClient, 'listAllConversations'>,
    private readonly me: string,
  ) {}

  /** Names `conversation` from what the caller already has (a `createConversation` answer). */
  learn(conversation: NameableConversation & { conversationId: string }): string {
    const name = conversationName(conversation, this.me);
    this.names.set(conversation.conversationId, name);
    return name;
  }

  /** The name of `conversationId`; the list is read (once for callers at the same time) when it is not known. */
  async nameOf(conversationId: string): Promise<string> {
    if (!this.names.has(conversationId)) await this.read();
    return this.names.get(conversationId) ?? conversationName({ conversationId }, this.me);
  }

  /** The name already known, or the fallback: for words that cannot wait for a request. */
  known(conversationId: string): string {
    return this.names.get(conversationId) ?? conversationName({ conversationId }, this.me);
  }

  private read(): Promise<void> {
    this.reading ??= this.chat
      .listAllConversations()
      .then(
        ({ conversations }) => {
          for (const conversation of conversations) this.learn(conversation);
        },
        () => undefined, // a name is a nicety: the fallback names it meanwhile
      )
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }
}

/**
 * Notes what happens in the user's other conversations: a message (`[Lunch] 2 new from bob: …`) and a
 * membership change that names the user (added, removed, or left from another terminal).
 */
export function watchElsewhere(
  chat: ChatClient,
  open: string,
  names: ConversationNames,
  screen: Pick<Screen, 'note'>,
  me: string | undefined,
): void {
  const heard = new Map<string, number>();
  chat.on('activity', (activity) => {
    if (activity.conversationId === open) return;
    const count = (heard.get(activity.conversationId) ?? 0) + 1;
    heard.set(activity.conversationId, count);
    void names
      .nameOf(activity.conversationId)
      .then((name) => screen.note(line([activityText(activity, count, name), 'dim'])));
  });
  chat.on('membership', (event) => {
    if (event.conversationId === open || me === undefined || !event.userIds.includes(me)) return;
    void names
      .nameOf(event.conversationId)
      .then((name) => screen.note(line([`[${printable(name)}] ${membershipText(event)}`, 'dim'])));
  });
}
