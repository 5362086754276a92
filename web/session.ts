import {
  type ChatClient,
  type ChatMessage,
  connect,
  localStorageOutboxStore,
  type MembershipEvent,
  type RoomAccess,
  type RoomInfo,
  type WebSocketConstructor,
} from '../client';
import { coalesced } from './coalesce';
import type { ConnectionStatus } from './connection-status';
import { ConversationView } from './conversation/view';
import { renderConversationList } from './conversation-list';
import { ConversationDirectory } from './conversations';
import { type DevTokens, SignInRefusedError } from './dev-tokens';
import { Invitations } from './invitations';
import { clearErrorLines, inWords } from './messages-in-words';
import { untilOnline } from './network';
import type { RoomTarget } from './room-link';
import { ui } from './ui';

const lastConversationKey = (userId: string) => `serverless-chat:last-conversation:${userId}`;
const outboxKey = (userId: string) => `serverless-chat:outbox:${userId}`;

/** A signed-in user: the SDK client, the conversation list, the open conversation. */
export class Session {
  readonly chat: ChatClient;
  readonly directory: ConversationDirectory;
  private view: ConversationView | undefined;
  /** The server left older conversations out of its list. */
  private listTruncated = false;
  /** Groups this user was invited to, with Accept and Decline (./invitations.ts). */
  readonly invitations: Invitations;

  constructor(
    readonly userId: string,
    tokens: DevTokens,
    webSocketUrl: string,
    WebSocket: WebSocketConstructor,
    status: ConnectionStatus,
    /** The server refused this user's tokens again and again: the page asks them to sign in again. */
    sessionEnded: () => void,
  ) {
    this.directory = new ConversationDirectory(userId);
    this.chat = connect({
      url: webSocketUrl,
      // Offline, the next connection waits for the network instead of failing and backing off.
      tokenProvider: async (request) => {
        await untilOnline();
        try {
          return await tokens.get(request);
        } catch (err: unknown) {
          if (err instanceof SignInRefusedError) sessionEnded();
          throw err;
        }
      },
      WebSocket,
      outboxStore: localStorageOutboxStore(outboxKey(userId)),
      // Called on its own: the SDK's default calls `fetch` as a method of another object, which a browser
      // refuses ("Illegal invocation"), so no attachment would ever upload.
      fetch: (url, init) => fetch(url, init),
    });
    status.watch(this.chat);
    this.chat.on('open', () => {
      tokens.opened();
      ui.sessionEnded.hidden = true;
      this.view?.connectionChanged();
      void this.refreshList();
    });
    this.chat.on('reconnecting', () => this.view?.connectionChanged());
    this.chat.on('closed', () => this.view?.connectionChanged());
    this.chat.on('auth_failed', sessionEnded);
    this.chat.on('outbox', (event) => {
      this.view?.onOutbox(event);
      this.renderList();
    });
    this.chat.on('error', ({ error }) => console.warn('serverless-chat:', error));
    this.chat.on('membership', (event) => this.membershipHeard(event));
    this.invitations = new Invitations(this.chat, (conversationId) => {
      void this.refreshList();
      this.open(conversationId);
    });
    this.chat.on('activity', (event) => {
      // The open conversation is subscribed: its messages come on its stream, and it marks them read.
      if (event.conversationId === this.view?.conversationId) return;
      if (this.directory.noteActivity(event)) this.renderList();
      else void this.refreshList();
    });
    this.renderList();
    const last = localStorage.getItem(lastConversationKey(userId));
    if (last) this.open(last);
  }

  /**
   * A membership change that names this user, wherever it happened: added, the list learns of the
   * conversation; removed (or left in another tab), it leaves the list, and its view says so.
   */
  private membershipHeard(event: MembershipEvent): void {
    // A promotion changes what this user may do there, not whether it is theirs.
    if (!event.userIds.includes(this.userId) || event.kind === 'member_promoted') return;
    if (event.kind === 'member_added') {
      void this.refreshList();
      return;
    }
    if (this.view?.conversationId === event.conversationId) {
      this.view.ended(event);
      this.view = undefined;
    }
    this.directory.forget(event.conversationId);
    if (localStorage.getItem(lastConversationKey(this.userId)) === event.conversationId)
      localStorage.removeItem(lastConversationKey(this.userId));
    this.renderList();
  }

  /**
   * Shows a conversation (a new view unless it is the open one) and focuses the composer; `room` is a
   * room's answer to creating or joining it, so the view need not ask for it.
   */
  open(conversationId: string, room?: RoomInfo): void {
    document.body.dataset.view = 'conversation';
    if (this.view?.conversationId !== conversationId) {
      clearErrorLines();
      this.view?.close();
      this.view = new ConversationView(this, conversationId, room);
    }
    this.renderList();
    ui.messageInput.focus();
  }

  /** Whether this page's connection is open. */
  get connected(): boolean {
    return this.chat.state === 'open';
  }

  /**
   * The conversation does not exist or this user is not in it (a server restart, a made-up id, removed
   * while away): it is not reopened after a reload, and leaves the list once it holds no unsent message.
   * Until the user discards those (./conversation/stranded.ts), it stays there, marked, as their place.
   */
  unavailable(conversationId: string): void {
    if (this.chat.outbox(conversationId).length > 0) this.directory.markGone(conversationId);
    else this.directory.forget(conversationId);
    if (localStorage.getItem(lastConversationKey(this.userId)) === conversationId)
      localStorage.removeItem(lastConversationKey(this.userId));
    this.renderList();
  }

  /** The open conversation's newest message, received or acked: the list's preview and order follow it. */
  newest(message: ChatMessage): void {
    this.directory.noteMessage(message);
    this.renderList();
  }

  /** The conversation answered its subscribe: it goes to the top of the list, and is reopened after a reload. */
  opened(conversationId: string): void {
    this.directory.remember({ conversationId, lastActivityAt: new Date().toISOString(), gone: false });
    localStorage.setItem(lastConversationKey(this.userId), conversationId);
    this.renderList();
  }

  /**
   * Creates a group conversation with `members` (you are added) and opens it, saying whom it invited:
   * someone who has never shared a group with you gets an invitation to accept, not a membership.
   */
  async create(members: string[], title: string | undefined): Promise<void> {
    const conversation = await this.chat.createConversation(members, title);
    clearErrorLines();
    this.directory.remember({
      conversationId: conversation.conversationId,
      title: conversation.title,
      members: conversation.members,
      lastActivityAt: conversation.createdAt,
    });
    this.open(conversation.conversationId);
    const invited = conversation.invited ?? [];
    if (invited.length > 0)
      ui.conversationError.textContent = `Invited (they accept or decline): ${invited.join(', ')}`;
  }

  /** Creates a room, of which this user is the admin, and opens it (its link is in the room bar). */
  async createRoom(title: string, access: RoomAccess, slowModeSeconds: number): Promise<void> {
    this.roomHeard(await this.chat.createRoom(title, { access, slowModeSeconds }));
  }

  /** Joins a room by its id, or by its link (with the invite code of a link room), and opens it. */
  async joinRoom({ conversationId, code }: RoomTarget): Promise<void> {
    this.roomHeard((await this.chat.joinRoom(conversationId, code)).room);
  }

  private roomHeard(room: RoomInfo): void {
    clearErrorLines();
    const { conversationId, title, memberCount } = room;
    this.directory.remember({
      conversationId,
      title,
      room: true,
      memberCount,
      lastActivityAt: new Date().toISOString(),
    });
    this.open(conversationId, room);
  }

  /** The one direct conversation with `userId`, created the first time. */
  async openDirect(userId: string): Promise<void> {
    const conversation = await this.chat.openDirect(userId);
    clearErrorLines();
    this.directory.remember({
      conversationId: conversation.conversationId,
      members: conversation.members,
      direct: true,
      lastActivityAt: new Date().toISOString(),
    });
    this.open(conversation.conversationId);
  }

  /** Sends to the open conversation; with none open, nothing happens (so for attach, typed, loadOlder). */
  send(body: string): void {
    this.view?.send(body);
  }

  attach(file: File): void {
    this.view?.attach(file);
  }

  /** Adds members to the open conversation; false when there is none or the server refused. */
  addMembers(userIds: string[]): Promise<boolean> {
    return this.view?.addMembers(userIds) ?? Promise.resolve(false);
  }

  /** Leaves the open conversation (after a confirm): it goes from the list and the screen. */
  async leave(): Promise<void> {
    const view = this.view;
    if (view === undefined || !window.confirm('Leave this conversation?')) return;
    try {
      await this.chat.leave(view.conversationId);
    } catch (err: unknown) {
      ui.conversationError.textContent = inWords(err, 'leave');
      return;
    }
    view.close();
    if (this.view === view) this.view = undefined;
    this.directory.forget(view.conversationId);
    localStorage.removeItem(lastConversationKey(this.userId));
    ui.conversationPane.hidden = true;
    ui.noConversation.hidden = false;
    document.body.dataset.view = 'list';
    this.renderList();
  }

  /** Blocks the other user of the open direct conversation (after a confirm). */
  async blockDirect(): Promise<void> {
    const open = this.view?.conversationId;
    const other = open && this.directory.get(open)?.members?.find((userId) => userId !== this.userId);
    if (
      !other ||
      !window.confirm(`Block ${other}? They will not be able to message you directly or add you to groups.`)
    )
      return;
    try {
      await this.chat.block(other);
      clearErrorLines();
      ui.conversationError.textContent = `You blocked ${other}`;
    } catch (err: unknown) {
      ui.conversationError.textContent = inWords(err, 'block');
    }
  }

  typed(): void {
    this.view?.typed();
  }

  /** The tab became visible: what the open conversation shows is now read. */
  visible(): void {
    this.view?.scheduleRead();
  }

  loadOlder(): void {
    void this.view?.loadOlder();
  }

  /** Reads the list again; a burst of asks is one read and one more after it (./coalesce.ts). */
  readonly refreshList = coalesced(() => this.readList());

  private async readList(): Promise<void> {
    ui.refreshList.disabled = true;
    try {
      this.listTruncated = (await this.directory.refresh(this.chat)).hasMore;
      this.renderList();
    } catch (err: unknown) {
      ui.conversationListHint.textContent = inWords(err, 'list');
    } finally {
      ui.refreshList.disabled = false;
    }
  }

  /** Draws the conversation list: titles, previews, unread counts and unsent badges. */
  renderList(): void {
    renderConversationList({
      conversations: this.directory.all(),
      outbox: this.chat.outbox(),
      me: this.userId,
      openId: this.view?.conversationId,
      truncated: this.listTruncated,
    });
    this.view?.renderHeader();
  }

  /**
   * Stops this session without forgetting anything (its outbox and list stay stored): the user signs in
   * again as the same user, and the new session sends what this one could not.
   */
  end(): void {
    this.view?.close();
    this.chat.close();
  }

  /**
   * Signs out: the view and the connection close, and this browser forgets what it kept for the user
   * (unsent messages, the remembered conversations, the last one open), so the next person at this
   * browser finds none of it in storage. Unsent messages are lost: signing out is the user's say-so.
   */
  signOut(): void {
    this.view?.close();
    // Closed first, so the outbox has stopped and saves nothing after its key is gone.
    this.chat.close();
    localStorage.removeItem(outboxKey(this.userId));
    localStorage.removeItem(lastConversationKey(this.userId));
    this.directory.clear();
  }
}
