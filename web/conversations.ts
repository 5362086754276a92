/**
 * The conversations shown in the sidebar: the newest the server lists for the user, merged with those
 * this browser created or opened, which it remembers in localStorage per user. The server's list
 * knows titles and activity but not members; the remembered entries keep the members of those
 * created here, and keep a conversation opened by id one click away even when it is older than the
 * listed page.
 */
import {
  type ActivityEvent,
  type ChatClient,
  type ChatMessage,
  describeMembership,
  type LastEntry,
} from '../client';
import { LIMITS } from '../shared/limits';

export interface ConversationSummary {
  conversationId: string;
  title?: string;
  /** Every member, or (listed, in a large group) the first few, with `memberCount` saying how many in all. */
  members?: string[];
  memberCount?: number;
  /** One conversation per pair of users (its members are the two of them). */
  direct?: boolean;
  /** A room: an audience without a member list; `memberCount` is its viewer count. */
  room?: boolean;
  /** Messages after the user's read cursor, as the server last listed them, counted up by `activity`. */
  unread?: number;
  /** The user's read cursor and the conversation's last seq, as listed and as `activity` moves them. */
  readSeq?: number;
  lastSeq?: number;
  /** The newest entry as one line ("bob: lunch?", "alice added dave"), from the list or an `activity` push. */
  preview?: string;
  /**
   * The server said it does not exist or the user is not in it, while the outbox still holds messages to
   * it: the list keeps it (marked) until the user has copied or discarded them.
   */
  gone?: boolean;
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

/** A message's preview line: "bob: lunch?", "you: 📎 dot.png", with … when the body goes on. */
function messagePreview(
  entry: { senderId: string; preview: string; truncated?: true; attachment?: unknown },
  me: string,
): string {
  const sender = entry.senderId === me ? 'you' : entry.senderId;
  return `${sender}: ${entry.attachment ? '📎 ' : ''}${entry.preview}${entry.truncated ? '…' : ''}`;
}

function lastEntryPreview(last: LastEntry, me: string): string {
  if (last.kind === 'message') return messagePreview(last, me);
  if (last.kind === 'deleted') return `${last.senderId === me ? 'you' : last.senderId}: message deleted`;
  return describeMembership(last, (userId) => (userId === me ? 'you' : userId));
}

export class ConversationDirectory {
  private readonly key: string;
  private remembered: ConversationSummary[];
  private listed: ConversationSummary[] = [];

  constructor(
    private readonly userId: string,
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

  /** Keeps a conversation that cannot be opened only as the place of its unsent messages. */
  markGone(conversationId: string): void {
    this.listed = this.listed.filter((c) => c.conversationId !== conversationId);
    this.remember({ conversationId, gone: true });
  }

  /** Forgets a conversation the user left. */
  forget(conversationId: string): void {
    this.remembered = this.remembered.filter((c) => c.conversationId !== conversationId);
    this.listed = this.listed.filter((c) => c.conversationId !== conversationId);
    this.storage.setItem(this.key, JSON.stringify(this.remembered));
  }

  /** Forgets everything, in memory and in storage (the user signed out). */
  clear(): void {
    this.remembered = [];
    this.listed = [];
    this.storage.removeItem(this.key);
  }

  /** Reads the server's conversations, every page; `hasMore` says that some were left out. */
  async refresh(chat: ChatClient): Promise<{ hasMore: boolean }> {
    const { conversations, hasMore } = await chat.listAllConversations();
    const before = new Map(this.listed.map((c) => [c.conversationId, c]));
    this.listed = conversations.map(
      ({ conversationId, title, direct, kind, members, memberCount, ...counts }) => {
        const entry: ConversationSummary = {
          conversationId,
          lastActivityAt: counts.lastActivityAt,
          unread: counts.unread,
          readSeq: counts.readSeq,
          lastSeq: counts.lastSeq,
          ...(counts.last === undefined ? {} : { preview: lastEntryPreview(counts.last, this.userId) }),
          ...(title === undefined ? {} : { title }),
          ...(direct ? { direct: true } : {}),
          ...(kind === 'room' ? { room: true, memberCount } : {}),
          ...(members === undefined ? {} : { members, memberCount }),
        };
        // An `activity` heard while the list was being read may be newer than the list.
        const heard = before.get(conversationId);
        if (heard?.lastSeq !== undefined && heard.lastSeq > counts.lastSeq)
          Object.assign(entry, {
            lastSeq: heard.lastSeq,
            unread: Math.max(0, heard.lastSeq - counts.readSeq),
            preview: heard.preview,
            lastActivityAt: heard.lastActivityAt,
          });
        return entry;
      },
    );
    return { hasMore };
  }

  /**
   * An `activity` push: a new message in a listed conversation moves it up and counts as unread
   * (its seq minus the read cursor, as the server counts). Returns false for a conversation the
   * server's list did not have (new to this user, or older than the page): only the list knows its title.
   */
  noteActivity(activity: ActivityEvent): boolean {
    const { conversationId, seq, sentAt } = activity;
    const entry = this.listed.find((c) => c.conversationId === conversationId);
    if (entry === undefined) return false;
    if (seq <= (entry.lastSeq ?? 0)) return true;
    entry.lastSeq = seq;
    entry.unread = Math.max(0, seq - (entry.readSeq ?? 0));
    entry.preview = messagePreview(activity, this.userId);
    if (sentAt > (entry.lastActivityAt ?? '')) entry.lastActivityAt = sentAt;
    return true;
  }

  /**
   * A message of the open conversation, shown as it arrives (the server sends no `activity` for it): when
   * it is the newest known, it becomes the preview, wherever the conversation came from (listed, or
   * created and remembered here).
   */
  noteMessage(message: ChatMessage): void {
    const { conversationId, seq, sentAt, body } = message;
    const preview = messagePreview(
      {
        senderId: message.senderId,
        preview: [...body].slice(0, LIMITS.previewChars).join(''),
        ...([...body].length > LIMITS.previewChars ? { truncated: true as const } : {}),
        attachment: message.attachment,
      },
      this.userId,
    );
    const listed = this.listed.find((c) => c.conversationId === conversationId);
    if (listed !== undefined) {
      if (seq < (listed.lastSeq ?? 0)) return;
      Object.assign(listed, { lastSeq: seq, preview });
      if (sentAt > (listed.lastActivityAt ?? '')) listed.lastActivityAt = sentAt;
      return;
    }
    const known = this.remembered.find((c) => c.conversationId === conversationId);
    if (seq < (known?.lastSeq ?? 0)) return;
    this.remember({ conversationId, lastSeq: seq, preview, lastActivityAt: sentAt });
  }

  /** Everything up to `seq` is read: its badge goes (until the next list says otherwise). */
  markRead(conversationId: string, seq: number): void {
    for (const entry of this.listed)
      if (entry.conversationId === conversationId) {
        entry.unread = 0;
        entry.readSeq = Math.max(entry.readSeq ?? 0, seq);
        entry.lastSeq = Math.max(entry.lastSeq ?? 0, seq);
      }
  }

  /** Who is a member, as a membership change says: known members are kept up to date. */
  membersChanged(conversationId: string, members: string[]): void {
    if (this.get(conversationId)?.members === undefined) return;
    this.remember({ conversationId, members });
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
