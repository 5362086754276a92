/**
 * The conversations shown in the sidebar: the newest the server lists for the user, merged with those
 * this browser created or opened, which it remembers in localStorage per user. The server's list
 * knows titles and activity but not members; the remembered entries keep the members of those
 * created here, and keep a conversation opened by id one click away even when it is older than the
 * listed page.
 */
import type { ChatClient } from '../client';
import { LIMITS } from '../shared/limits';

export interface ConversationSummary {
  conversationId: string;
  title?: string;
  members?: string[];
  /** One conversation per pair of users (its members are the two of them). */
  direct?: boolean;
  /** Messages after the user's read cursor, as the server last listed them. */
  unread?: number;
  /** ISO time of the last message (from the server) or of when this browser last opened it. */
  lastActivityAt?: string;
}

function isSummary(value: unknown): value is ConversationSummary {
  const entry = value as Partial<ConversationSummary> | null;
  return (
    typeof entry?.conversationId === 'string' &&
    (entry.title === undefined || typeof entry.title === 'string') &&
    (entry.members === undefined ||
      (Array.isArray(entry.members) && entry.members.every((m) => typeof m === 'string'))) &&
    (entry.lastActivityAt === undefined || typeof entry.lastActivityAt === 'string')
  );
}

export class ConversationDirectory {
  private readonly key: string;
  private remembered: ConversationSummary[];
  private listed: ConversationSummary[] = [];

  constructor(
    userId: string,
    private readonly storage: Storage = localStorage,
  ) {
    this.key = `serverless-chat:conversations:${userId}`;
    this.remembered = this.load();
  }

  /** Remembers a conversation this browser created or opened; known fields are kept when absent. */
  remember(summary: ConversationSummary): void {
    const known = this.remembered.find((c) => c.conversationId === summary.conversationId);
    const merged = { ...known, ...definedFields(summary) };
    this.remembered = [merged, ...this.remembered.filter((c) => c !== known)];
    this.storage.setItem(this.key, JSON.stringify(this.remembered));
  }

  /** Forgets a conversation the user left. */
  forget(conversationId: string): void {
    this.remembered = this.remembered.filter((c) => c.conversationId !== conversationId);
    this.listed = this.listed.filter((c) => c.conversationId !== conversationId);
    this.storage.setItem(this.key, JSON.stringify(this.remembered));
  }

  /** Reads the server's newest conversations; `hasMore` says that older ones were left out. */
  async refresh(chat: ChatClient): Promise<{ hasMore: boolean }> {
    const { conversations, hasMore } = await chat.listConversations(LIMITS.maxPageSize);
    this.listed = conversations.map(({ conversationId, title, lastActivityAt, unread, direct, members }) => ({
      conversationId,
      lastActivityAt,
      unread,
      ...(title === undefined ? {} : { title }),
      ...(direct ? { direct: true } : {}),
      ...(members === undefined ? {} : { members }),
    }));
    return { hasMore };
  }

  /** Everything up to the last message is read: its badge goes (until the next list says otherwise). */
  markRead(conversationId: string): void {
    for (const entry of this.listed) if (entry.conversationId === conversationId) entry.unread = 0;
  }

  get(conversationId: string): ConversationSummary | undefined {
    return this.all().find((c) => c.conversationId === conversationId);
  }

  /** Server-listed and remembered conversations, each once, most recently active first. */
  all(): ConversationSummary[] {
    const byId = new Map<string, ConversationSummary>();
    for (const entry of [...this.remembered, ...this.listed]) {
      const known = byId.get(entry.conversationId);
      const lastActivityAt = [known?.lastActivityAt, entry.lastActivityAt]
        .filter((t): t is string => t !== undefined)
        .sort()
        .at(-1);
      byId.set(entry.conversationId, {
        ...known,
        ...definedFields(entry),
        ...(lastActivityAt ? { lastActivityAt } : {}),
      });
    }
    return [...byId.values()].sort((a, b) => (b.lastActivityAt ?? '').localeCompare(a.lastActivityAt ?? ''));
  }

  private load(): ConversationSummary[] {
    try {
      const parsed: unknown = JSON.parse(this.storage.getItem(this.key) ?? '[]');
      return Array.isArray(parsed) ? parsed.filter(isSummary) : [];
    } catch {
      return []; // an unreadable list only costs the shortcuts, never the conversations themselves
    }
  }
}

function definedFields(summary: ConversationSummary): ConversationSummary {
  return Object.fromEntries(
    Object.entries(summary).filter(([, value]) => value !== undefined),
  ) as unknown as ConversationSummary;
}
