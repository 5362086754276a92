/**
 * The web chat page, on the client SDK: sign in as a dev user, the conversation list, one open
 * conversation with its messages in seq order, the outbox's pending and failed messages under them,
 * and the connection's state. Served with its bundle by the local runtime's control plane, which also
 * answers /config.json (the WebSocket URL) and /token?user= (a dev token).
 */
import {
  type Attachment,
  type AttachmentContentType,
  type ChatClient,
  type ChatMessage,
  ChatRequestError,
  type ConversationStream,
  connect,
  describeMembership,
  localStorageOutboxStore,
  type MembershipEvent,
  type MessageUpdate,
  type OutboxEntry,
  type OutboxEvent,
  type WebSocketConstructor,
} from '../client';
import { coalesced } from './coalesce';
import { ConversationDirectory, type ConversationSummary } from './conversations';
import { byId, h } from './dom';
import { offlineAwareWebSocket, untilOnline } from './network';

interface PageConfig {
  webSocketUrl: string;
}

/** Messages read per "load older" (and when a conversation opens). */
const PAGE_SIZE = 50;
/** How long "bob is typing…" stays after bob's last typing event (the server sends one per 3 s at most). */
const TYPING_SHOWN_MS = 4_000;
/** A token this close to expiry is replaced before it is used for a connection. */
const TOKEN_MARGIN_MS = 60_000;
/** The signed-in user of this tab, so a reload resumes the session (and sends its outbox). */
const SESSION_USER_KEY = 'serverless-chat:user';
const lastConversationKey = (userId: string) => `serverless-chat:last-conversation:${userId}`;

const ui = {
  connection: byId('connection', HTMLDivElement),
  connectionText: byId('connection-text', HTMLSpanElement),
  who: byId('who', HTMLDivElement),
  whoName: byId('who-name', HTMLSpanElement),
  signOut: byId('sign-out', HTMLButtonElement),
  signInScreen: byId('sign-in-screen', HTMLElement),
  signInForm: byId('sign-in-form', HTMLFormElement),
  userId: byId('user-id', HTMLInputElement),
  signInButton: byId('sign-in-button', HTMLButtonElement),
  signInError: byId('sign-in-error', HTMLParagraphElement),
  chatScreen: byId('chat-screen', HTMLElement),
  refreshList: byId('refresh-list', HTMLButtonElement),
  conversationList: byId('conversation-list', HTMLUListElement),
  conversationListHint: byId('conversation-list-hint', HTMLParagraphElement),
  createForm: byId('create-form', HTMLFormElement),
  createMembers: byId('create-members', HTMLInputElement),
  createTitle: byId('create-title', HTMLInputElement),
  createButton: byId('create-button', HTMLButtonElement),
  createError: byId('create-error', HTMLParagraphElement),
  directForm: byId('direct-form', HTMLFormElement),
  directUser: byId('direct-user', HTMLInputElement),
  directButton: byId('direct-button', HTMLButtonElement),
  directError: byId('direct-error', HTMLParagraphElement),
  openForm: byId('open-form', HTMLFormElement),
  openId: byId('open-id', HTMLInputElement),
  noConversation: byId('no-conversation', HTMLParagraphElement),
  conversationPane: byId('conversation-pane', HTMLDivElement),
  back: byId('back', HTMLButtonElement),
  conversationTitle: byId('conversation-title', HTMLHeadingElement),
  conversationMembers: byId('conversation-members', HTMLSpanElement),
  conversationId: byId('conversation-id', HTMLElement),
  conversationPresence: byId('conversation-presence', HTMLParagraphElement),
  typing: byId('typing', HTMLParagraphElement),
  scroller: byId('message-scroller', HTMLDivElement),
  loadOlder: byId('load-older', HTMLButtonElement),
  messages: byId('messages', HTMLOListElement),
  outbox: byId('outbox', HTMLOListElement),
  conversationError: byId('conversation-error', HTMLParagraphElement),
  sendForm: byId('send-form', HTMLFormElement),
  messageInput: byId('message-input', HTMLTextAreaElement),
  sendButton: byId('send-button', HTMLButtonElement),
  attachInput: byId('attach-input', HTMLInputElement),
  leave: byId('leave', HTMLButtonElement),
  membersToggle: byId('members-toggle', HTMLButtonElement),
  membersPanel: byId('members-panel', HTMLElement),
  memberList: byId('member-list', HTMLUListElement),
  addMembersForm: byId('add-members-form', HTMLFormElement),
  addMembers: byId('add-members', HTMLInputElement),
  addMembersButton: byId('add-members-button', HTMLButtonElement),
};

/** What the server accepts as an attachment (shared/attachments.ts), without bundling its schemas. */
const ATTACHMENT_TYPES: readonly AttachmentContentType[] = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
];

const formatSize = (bytes: number): string =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(1)} KB`
      : `${(bytes / 1048576).toFixed(1)} MB`;

const describeError = (err: unknown): string =>
  err instanceof ChatRequestError ? `${err.message} (${err.code})` : String(err);

/** User ids typed in a field, comma- or space-separated: each once, `me` left out. */
const userIdList = (text: string, me: string): string[] => [
  ...new Set(text.split(/[\s,]+/).filter((userId) => userId !== '' && userId !== me)),
];

/** Opens or closes the member panel under the conversation header. */
const showMembersPanel = (open: boolean): void => {
  ui.membersPanel.hidden = !open;
  ui.membersToggle.ariaExpanded = String(open);
};

const formatTime = (time: string | number): string =>
  new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/** The title; a direct conversation is named after the other member. */
const conversationLabel = (c: ConversationSummary, userId: string): string =>
  c.title ||
  (c.direct ? c.members?.filter((m) => m !== userId) : c.members)?.join(', ') ||
  `Conversation ${c.conversationId.slice(0, 8)}`;

/** Dev tokens from the control plane, reused until close to expiry. */
class DevTokens {
  private cached: { token: string; expiresAt: number } | undefined;

  constructor(private readonly userId: string) {}

  /** A valid token; throws with the control plane's message when it refuses the user id. */
  async get(): Promise<string> {
    if (this.cached && this.cached.expiresAt - Date.now() > TOKEN_MARGIN_MS) return this.cached.token;
    const response = await fetch(`/token?user=${encodeURIComponent(this.userId)}`, { cache: 'no-store' });
    const answer = (await response.json()) as { token?: string; expiresAt?: string; message?: string };
    if (!response.ok || answer.token === undefined)
      throw new Error(answer.message ?? `The token endpoint answered ${response.status}`);
    this.cached = { token: answer.token, expiresAt: Date.parse(answer.expiresAt ?? '') || Date.now() };
    return answer.token;
  }
}

/** The connection line in the top bar: the SDK's state, the reconnect in progress and how many there were. */
class ConnectionStatus {
  private state = 'connecting';
  private text = 'connecting';
  private opens = 0;

  constructor() {
    window.addEventListener('online', () => this.render());
    window.addEventListener('offline', () => this.render());
  }

  watch(chat: ChatClient): void {
    chat.on('connecting', ({ attempt }) =>
      this.set('connecting', attempt === 0 ? 'connecting' : `connecting (attempt #${attempt})`),
    );
    chat.on('open', () => {
      this.opens++;
      const reconnects = this.opens - 1;
      this.set('open', reconnects === 0 ? 'open' : `open · reconnected ${reconnects}×`);
    });
    chat.on('reconnecting', ({ attempt, delayMs, reason }) =>
      this.set('reconnecting', `reconnecting #${attempt} in ${Math.round(delayMs)} ms (${reason})`),
    );
    chat.on('closed', ({ reason }) =>
      this.set('closed', reason === 'client' ? 'closed' : 'closed: gave up reconnecting'),
    );
  }

  signedOut(): void {
    this.opens = 0;
    this.set('signed-out', 'not signed in');
  }

  private set(state: string, text: string): void {
    this.state = state;
    this.text = text;
    this.render();
  }

  private render(): void {
    const waiting = (this.state === 'connecting' || this.state === 'reconnecting') && !navigator.onLine;
    ui.connection.dataset.state = this.state;
    ui.connection.dataset.reconnects = String(Math.max(0, this.opens - 1));
    ui.connectionText.textContent = waiting ? `${this.text} · offline, waiting for the network` : this.text;
    ui.connection.title = ui.connectionText.textContent;
  }
}

/** One open conversation: its stream rendered in seq order, and its outbox entries below. */
class ConversationView {
  private readonly stream: ConversationStream;
  private readonly rows = new Map<number, HTMLLIElement>();
  private readonly outboxRows = new Map<string, HTMLLIElement>();
  /** Who is typing, each with the timer that takes them off the line. */
  private readonly typists = new Map<string, ReturnType<typeof setTimeout>>();
  /** Members with a live connection: asked when the conversation opens, then kept by presence events. */
  private readonly online = new Set<string>();
  /**
   * How far each other member has read, from the `presence` answer on opening (small groups) and from
   * `read` pushes after it: your messages up to it are "seen" by them.
   */
  private readonly seen: Map<string, number>;
  /** The members, when known (created here, direct, or listed by `presence`), kept by membership changes. */
  private members: string[] | undefined;
  /** The read cursor this page last sent. */
  private readSeq = 0;
  private readScheduled = false;
  private closed = false;

  constructor(
    private readonly session: Session,
    readonly conversationId: string,
  ) {
    this.seen = session.receipts(conversationId);
    this.members = session.directory.get(conversationId)?.members;
    showMembersPanel(false);
    this.renderHeader();
    this.renderMembers();
    ui.conversationError.textContent = '';
    ui.messages.replaceChildren();
    ui.outbox.replaceChildren();
    ui.loadOlder.hidden = true;
    ui.typing.textContent = '';
    ui.conversationPresence.replaceChildren();
    this.composer(true);
    ui.noConversation.hidden = true;
    ui.conversationPane.hidden = false;

    for (const entry of session.chat.outbox(conversationId)) this.showOutboxEntry(entry);
    this.stream = session.chat.conversation(conversationId);
    this.stream.on('message', (message) => {
      this.showMessage(message);
      this.stopTyping(message.senderId);
      this.scheduleRead();
    });
    this.stream.on('update', (update) => this.showUpdate(update));
    this.stream.on('typing', ({ userId }) => this.showTyping(userId));
    this.stream.on('read', ({ userId, seq }) => this.readBy(userId, seq));
    this.stream.on('membership', (event) => {
      this.showMembership(event);
      this.membershipChanged(event);
    });
    this.stream.on('error', (err) => this.refused(err));
    this.stream.ready.then(
      () => {
        if (this.closed) return;
        session.opened(conversationId);
        this.scheduleRead();
        void this.loadOlder();
        session.chat.request('presence', { conversationId }).then(
          ({ online, readSeqs }) => {
            if (this.closed) return;
            for (const userId of online) this.online.add(userId);
            if (readSeqs) {
              this.members = readSeqs.map((m) => m.userId);
              for (const { userId, readSeq } of readSeqs) this.readBy(userId, readSeq);
              this.renderMembers();
            }
            this.renderHeader();
          },
          () => undefined, // the dots stay grey; presence events still update them
        );
      },
      () => undefined, // the error event says why
    );
  }

  close(): void {
    this.closed = true;
    this.stream.close();
    for (const timer of this.typists.values()) clearTimeout(timer);
  }

  /**
   * This user is no longer a member (removed, or left, maybe in another tab): the transcript stays on
   * screen with the line that says so, and nothing more can be done here.
   */
  ended(event: MembershipEvent): void {
    this.showMembership(event);
    ui.conversationError.textContent =
      event.kind === 'member_left'
        ? 'You left this conversation.'
        : `${event.by} removed you from this conversation.`;
    this.composer(false);
    ui.loadOlder.hidden = true;
    ui.membersToggle.hidden = true;
    ui.leave.hidden = true;
    showMembersPanel(false);
    ui.conversationPresence.replaceChildren();
    this.close();
  }

  /** Title and members as far as the directory knows them (a conversation opened by id may have neither yet). */
  renderHeader(): void {
    const known = this.session.directory.get(this.conversationId);
    ui.conversationTitle.textContent = known ? conversationLabel(known, this.session.userId) : 'Conversation';
    ui.conversationMembers.textContent = this.members ? `${this.members.join(', ')} · ` : '';
    ui.conversationId.textContent = this.conversationId;
    // A direct conversation has exactly its two members: nobody is added, removed, or leaves.
    ui.membersToggle.hidden = known?.direct === true;
    ui.leave.hidden = known?.direct === true;
    if (known?.direct) showMembersPanel(false);
    this.renderPresence();
  }

  /**
   * Adds members; the server skips those who are members already. The `membership` push that follows
   * puts the line in the transcript and the new members in the list. Resolves false when refused.
   */
  async addMembers(userIds: string[]): Promise<boolean> {
    ui.conversationError.textContent = '';
    try {
      const { added } = await this.session.chat.addMembers(this.conversationId, userIds);
      if (added.length === 0 && !this.closed)
        ui.conversationError.textContent = `Nobody added: ${userIds.join(', ')} already in this conversation`;
      return true;
    } catch (err: unknown) {
      if (!this.closed)
        ui.conversationError.textContent = `Could not add ${userIds.join(', ')}: ${describeError(err)}`;
      return false;
    }
  }

  /**
   * The member panel: each member, with Remove next to the others. The page does not know who is an
   * admin, so everyone gets the buttons and the server's refusal is shown in the error line.
   */
  private renderMembers(): void {
    const me = this.session.userId;
    ui.membersToggle.textContent = this.members ? `Members (${this.members.length})` : 'Members';
    ui.memberList.replaceChildren(
      ...(this.members?.map((userId) =>
        h(
          'li',
          { 'data-user': userId },
          h('span', { dir: 'auto' }, userId === me ? `${userId} (you)` : userId),
          userId === me ? null : this.removeButton(userId),
        ),
      ) ?? [h('li', { class: 'subtle' }, 'The member list is not known here; you can still add people.')]),
    );
  }

  private removeButton(userId: string): HTMLButtonElement {
    const button = h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${userId}` }, 'Remove');
    button.addEventListener('click', () => {
      if (!window.confirm(`Remove ${userId} from this conversation?`)) return;
      button.disabled = true;
      ui.conversationError.textContent = '';
      // On success the `membership` push takes them off the list.
      this.session.chat.removeMember(this.conversationId, userId).catch((err: unknown) => {
        button.disabled = false;
        if (!this.closed)
          ui.conversationError.textContent = `Could not remove ${userId}: ${describeError(err)}`;
      });
    });
    return button;
  }

  /** A presence event: only users this conversation shows (members, or seen online here) matter. */
  presenceChanged(userId: string, online: boolean): void {
    if (online) this.online.add(userId);
    else this.online.delete(userId);
    this.renderPresence();
  }

  /** The user typed in the composer: the SDK sends `typing` at most once per 3 s. */
  typed(): void {
    if (!this.closed) void this.session.chat.typing(this.conversationId);
  }

  /** Moves the read cursor to the last message shown, when the page is visible (once per burst of messages). */
  scheduleRead(): void {
    if (this.readScheduled) return;
    this.readScheduled = true;
    queueMicrotask(() => {
      this.readScheduled = false;
      const seq = this.stream.lastSeq ?? 0;
      if (this.closed || document.visibilityState !== 'visible' || seq <= this.readSeq) return;
      this.readSeq = seq;
      this.session.chat.markRead(this.conversationId, seq).catch(() => undefined);
      this.session.directory.markRead(this.conversationId, seq);
      this.session.renderList();
    });
  }

  private renderPresence(): void {
    const members = this.members ?? [];
    const shown = [...new Set([...members, ...this.online])].filter((m) => m !== this.session.userId);
    ui.conversationPresence.replaceChildren(
      ...shown.map((userId) => {
        const online = this.online.has(userId);
        return h(
          'span',
          { class: 'member', 'data-user': userId, 'data-online': String(online), dir: 'auto' },
          `${userId}${online ? '' : ' (offline)'}`,
        );
      }),
    );
  }

  private showTyping(userId: string): void {
    clearTimeout(this.typists.get(userId));
    this.typists.set(
      userId,
      setTimeout(() => this.stopTyping(userId), TYPING_SHOWN_MS),
    );
    this.renderTyping();
  }

  private stopTyping(userId: string): void {
    if (!this.typists.has(userId)) return;
    clearTimeout(this.typists.get(userId));
    this.typists.delete(userId);
    this.renderTyping();
  }

  private renderTyping(): void {
    const names = [...this.typists.keys()];
    ui.typing.textContent =
      names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
  }

  /** Reads the page before the oldest message shown, keeping what is on screen where it is. */
  async loadOlder(): Promise<void> {
    ui.loadOlder.disabled = true;
    try {
      const fromBottom = ui.scroller.scrollHeight - ui.scroller.scrollTop;
      const page = await this.stream.loadOlder(PAGE_SIZE);
      if (this.closed) return;
      for (const message of page.messages) this.showMessage(message, { scroll: false });
      for (const change of page.membership) this.showMembership(change, { scroll: false });
      for (const entry of page.deleted) {
        const { conversationId, seq, senderId, deletedAt, version } = entry;
        this.showMessage({ conversationId, seq, senderId, body: '', sentAt: deletedAt }, { scroll: false });
        this.showUpdate({ conversationId, seq, version, body: '', deleted: true, deletedAt });
      }
      ui.scroller.scrollTop = ui.scroller.scrollHeight - fromBottom;
      ui.loadOlder.hidden = !page.hasMore;
    } catch (err: unknown) {
      if (!this.closed)
        ui.conversationError.textContent = `Could not read older messages: ${describeError(err)}`;
    } finally {
      ui.loadOlder.disabled = false;
    }
  }

  send(body: string): void {
    this.session.chat.send(this.conversationId, body);
    this.session.opened(this.conversationId);
  }

  /** Uploads a file straight to the bucket, then sends a message that carries it. */
  async attach(file: File): Promise<void> {
    const type = file.type as AttachmentContentType;
    if (!ATTACHMENT_TYPES.includes(type)) {
      ui.conversationError.textContent = `Cannot attach ${file.type || 'this file'}: images and PDF only`;
      return;
    }
    ui.conversationError.textContent = `Uploading ${file.name}…`;
    try {
      await this.session.chat.attach(this.conversationId, file, type, file.name || type);
      if (!this.closed) ui.conversationError.textContent = '';
      this.session.opened(this.conversationId);
    } catch (err: unknown) {
      if (!this.closed) ui.conversationError.textContent = `Could not attach: ${describeError(err)}`;
    }
  }

  /** A membership change as a line of the transcript at its seq: "alice added dave", "bob left". */
  private showMembership(event: MembershipEvent, { scroll = true } = {}): void {
    const me = this.session.userId;
    const text = describeMembership(event, (userId) => (userId === me ? 'you' : userId));
    const row = h(
      'li',
      { class: 'system', 'data-seq': String(event.seq), 'data-kind': event.kind },
      h('span', { class: 'body', dir: 'auto' }, text),
      ' ',
      h('time', { datetime: event.at, title: event.at }, formatTime(event.at)),
    );
    const stick = this.atBottom();
    const existing = this.rows.get(event.seq);
    if (existing) existing.replaceWith(row);
    else ui.messages.insertBefore(row, this.rowAfter(event.seq));
    this.rows.set(event.seq, row);
    if (scroll && stick) this.scrollToBottom();
  }

  /** A live membership change: the member list and presence dots follow it. */
  private membershipChanged(event: MembershipEvent): void {
    if (event.kind !== 'member_added') for (const userId of event.userIds) this.online.delete(userId);
    if (this.members !== undefined) {
      const gone = new Set(event.kind === 'member_added' ? [] : event.userIds);
      this.members = [
        ...new Set([...this.members, ...(event.kind === 'member_added' ? event.userIds : [])]),
      ].filter((m) => !gone.has(m));
      this.session.directory.membersChanged(this.conversationId, this.members);
      this.renderMembers();
    }
    this.renderHeader();
  }

  /** A `read` push: `userId` has read up to `seq`, so your messages up to there are seen by them. */
  private readBy(userId: string, seq: number): void {
    if (userId === this.session.userId || seq <= (this.seen.get(userId) ?? 0)) return;
    this.seen.set(userId, seq);
    for (const [rowSeq, row] of this.rows) if (rowSeq <= seq) this.renderSeen(row, rowSeq);
  }

  private renderSeen(row: HTMLLIElement, seq: number): void {
    const mark = row.querySelector('.seen');
    if (mark === null) return; // not yours, or deleted
    const by = [...this.seen].filter(([, upTo]) => upTo >= seq).map(([userId]) => userId);
    mark.textContent = by.length === 0 ? '' : ` · seen by ${by.join(', ')}`;
  }

  /** The file a message carries: an image shown inline, anything else a download link (URLs are asked for now). */
  private attachmentView(attachment: Attachment): HTMLElement {
    const label = `${attachment.contentType}, ${formatSize(attachment.size)}`;
    const image = attachment.contentType.startsWith('image/');
    const element = image
      ? h('img', { class: 'attachment-image', alt: `image (${label})`, 'data-key': attachment.key })
      : h(
          'a',
          { class: 'attachment-link', 'data-key': attachment.key, rel: 'noopener' },
          `Download (${label})`,
        );
    const container = h('div', { class: 'attachment' }, element);
    this.session.chat.downloadUrl(this.conversationId, attachment.key).then(
      ({ url }) => {
        if (element instanceof HTMLImageElement) {
          const stick = this.atBottom();
          element.addEventListener('load', () => stick && this.scrollToBottom(), { once: true });
          element.src = url;
        } else {
          element.setAttribute('href', url);
          element.setAttribute('download', '');
        }
      },
      (err: unknown) =>
        container.append(h('span', { class: 'error' }, ` unavailable: ${describeError(err)}`)),
    );
    return container;
  }

  onOutbox(event: OutboxEvent): void {
    if (event.entry.conversationId !== this.conversationId || this.closed) return;
    if (event.status === 'sent') {
      this.outboxRows.get(event.entry.clientMessageId)?.remove();
      this.outboxRows.delete(event.entry.clientMessageId);
      const { conversationId, seq, sentAt } = event.ack;
      this.showMessage({
        conversationId,
        seq,
        sentAt,
        senderId: this.session.userId,
        body: event.entry.body,
        ...(event.entry.attachment ? { attachment: event.entry.attachment } : {}),
      });
    } else this.showOutboxEntry(event.entry);
  }

  /** Shows a stored message at its seq; the same seq twice (the ack, then the push) replaces the row. */
  private showMessage(message: ChatMessage, { scroll = true } = {}): void {
    const mine = message.senderId === this.session.userId;
    const row = h(
      'li',
      {
        class: mine ? 'message mine' : 'message',
        'data-seq': String(message.seq),
        'data-sender': message.senderId,
        'data-status': mine ? 'sent' : undefined,
      },
      h(
        'div',
        { class: 'meta' },
        h('span', { class: 'sender', dir: 'auto' }, mine ? 'you' : message.senderId),
        h('time', { datetime: message.sentAt, title: message.sentAt }, formatTime(message.sentAt)),
        message.editedAt ? this.editedMark(message.editedAt) : null,
      ),
      h('div', { class: 'body', dir: 'auto' }, message.body),
      message.attachment ? this.attachmentView(message.attachment) : null,
      mine
        ? h(
            'div',
            { class: 'state' },
            'sent ✓',
            h('span', { class: 'seen' }),
            h(
              'span',
              { class: 'tools' },
              this.action('Edit', () => this.edit(message.seq)),
              this.action('Delete', () => this.remove(message.seq)),
            ),
          )
        : null,
    );
    if (message.editedAt) row.dataset.edited = 'true';
    const stick = this.atBottom();
    const existing = this.rows.get(message.seq);
    if (existing) existing.replaceWith(row);
    else ui.messages.insertBefore(row, this.rowAfter(message.seq));
    this.rows.set(message.seq, row);
    if (mine) this.renderSeen(row, message.seq);
    if (scroll && (stick || mine)) this.scrollToBottom();
  }

  /** A newer version of a message on screen: its new body and an "edited" mark, or a deleted mark. */
  private showUpdate(update: MessageUpdate): void {
    const row = this.rows.get(update.seq);
    if (row === undefined || row.dataset.deleted === 'true') return;
    const body = row.querySelector('.body');
    if (update.deleted) {
      row.dataset.deleted = 'true';
      delete row.dataset.edited;
      row.querySelector('.edited')?.remove();
      row.querySelector('.state')?.remove();
      if (body) body.textContent = 'message deleted';
      return;
    }
    row.dataset.edited = 'true';
    if (body) body.textContent = update.body;
    if (!row.querySelector('.edited'))
      row.querySelector('.meta')?.append(this.editedMark(update.editedAt ?? new Date().toISOString()));
  }

  private editedMark(editedAt: string): HTMLSpanElement {
    return h('span', { class: 'edited', title: `edited ${editedAt}` }, 'edited');
  }

  private edit(seq: number): void {
    const current = this.rows.get(seq)?.querySelector('.body')?.textContent ?? '';
    const body = window.prompt('Edit your message', current);
    if (body === null || body.trim() === '' || body === current) return;
    this.session.chat.edit(this.conversationId, seq, body).then(
      (ack) => this.showUpdate({ ...ack, body, deleted: false }),
      (err: unknown) => {
        ui.conversationError.textContent = `Could not edit: ${describeError(err)}`;
      },
    );
  }

  private remove(seq: number): void {
    if (!window.confirm('Delete this message for everyone?')) return;
    this.session.chat.delete(this.conversationId, seq).then(
      (ack) => this.showUpdate({ ...ack, body: '', deleted: true }),
      (err: unknown) => {
        ui.conversationError.textContent = `Could not delete: ${describeError(err)}`;
      },
    );
  }

  private showOutboxEntry(entry: OutboxEntry): void {
    const id = entry.clientMessageId;
    const failed = entry.status === 'failed';
    const row = h(
      'li',
      { class: 'message mine', 'data-client-message-id': id, 'data-status': entry.status },
      h(
        'div',
        { class: 'meta' },
        h('span', { class: 'sender' }, 'you'),
        h('time', { datetime: new Date(entry.createdAt).toISOString() }, formatTime(entry.createdAt)),
      ),
      h('div', { class: 'body', dir: 'auto' }, entry.body),
      failed
        ? h(
            'div',
            { class: 'state' },
            `failed: ${entry.error?.message ?? 'refused'} `,
            this.action('Retry', () => void this.session.chat.retry(id).catch(() => undefined)),
            this.action('Discard', () => {
              this.session.chat.discard(id);
              this.outboxRows.get(id)?.remove();
              this.outboxRows.delete(id);
              this.session.renderList();
            }),
          )
        : h('div', { class: 'state' }, 'pending…'),
    );
    const existing = this.outboxRows.get(id);
    if (existing) existing.replaceWith(row);
    else ui.outbox.append(row);
    this.outboxRows.set(id, row);
    this.scrollToBottom();
  }

  private action(label: string, onClick: () => void): HTMLButtonElement {
    const button = h('button', { type: 'button', class: 'link' }, label);
    button.addEventListener('click', onClick);
    return button;
  }

  /** The first row with a higher seq (rows are kept in seq order; new ones usually go last). */
  private rowAfter(seq: number): HTMLLIElement | null {
    let after: HTMLLIElement | null = null;
    for (let row = ui.messages.lastElementChild; row instanceof HTMLLIElement; ) {
      if (Number(row.dataset.seq) < seq) break;
      after = row;
      row = row.previousElementSibling;
    }
    return after;
  }

  private refused(err: ChatRequestError): void {
    ui.conversationError.textContent = `This conversation cannot be opened: ${describeError(err)}`;
    this.composer(false);
  }

  private composer(enabled: boolean): void {
    ui.messageInput.disabled = !enabled;
    ui.sendButton.disabled = !enabled;
  }

  private atBottom(): boolean {
    return ui.scroller.scrollHeight - ui.scroller.scrollTop - ui.scroller.clientHeight < 48;
  }

  private scrollToBottom(): void {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
  }
}

/** A signed-in user: the SDK client, the conversation list, the open conversation. */
class Session {
  readonly chat: ChatClient;
  readonly directory: ConversationDirectory;
  private view: ConversationView | undefined;
  /** Read cursors per conversation (from `presence` on opening, then `read` pushes), kept across views. */
  private readonly receiptsByConversation = new Map<string, Map<string, number>>();
  /** The server left older conversations out of its list. */
  private listTruncated = false;

  constructor(
    readonly userId: string,
    tokens: DevTokens,
    config: PageConfig,
    WebSocket: WebSocketConstructor,
    status: ConnectionStatus,
  ) {
    this.directory = new ConversationDirectory(userId);
    this.chat = connect({
      url: config.webSocketUrl,
      // Offline, the next connection waits for the network instead of failing and backing off.
      tokenProvider: () => untilOnline().then(() => tokens.get()),
      WebSocket,
      outboxStore: localStorageOutboxStore(`serverless-chat:outbox:${userId}`),
    });
    status.watch(this.chat);
    this.chat.on('open', () => void this.refreshList());
    this.chat.on('outbox', (event) => {
      this.view?.onOutbox(event);
      this.renderList();
    });
    this.chat.on('error', ({ error }) => console.warn('serverless-chat:', error));
    this.chat.on('presence', ({ userId, online }) => this.view?.presenceChanged(userId, online));
    this.chat.on('membership', (event) => this.membershipHeard(event));
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
    if (!event.userIds.includes(this.userId)) return;
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

  /** Who has read how far in a conversation, as far as this tab knows (`presence`, then `read` pushes). */
  receipts(conversationId: string): Map<string, number> {
    let receipts = this.receiptsByConversation.get(conversationId);
    if (receipts === undefined) {
      receipts = new Map();
      this.receiptsByConversation.set(conversationId, receipts);
    }
    return receipts;
  }

  open(conversationId: string): void {
    document.body.dataset.view = 'conversation';
    if (this.view?.conversationId !== conversationId) {
      this.view?.close();
      this.view = new ConversationView(this, conversationId);
    }
    this.renderList();
    ui.messageInput.focus();
  }

  /** The conversation answered its subscribe: it goes to the top of the list, and is reopened after a reload. */
  opened(conversationId: string): void {
    this.directory.remember({ conversationId, lastActivityAt: new Date().toISOString() });
    localStorage.setItem(lastConversationKey(this.userId), conversationId);
    this.renderList();
  }

  async create(members: string[], title: string | undefined): Promise<void> {
    const conversation = await this.chat.createConversation(members, title);
    this.directory.remember({
      conversationId: conversation.conversationId,
      title: conversation.title,
      members: conversation.members,
      lastActivityAt: conversation.createdAt,
    });
    this.open(conversation.conversationId);
  }

  /** The one direct conversation with `userId`, created the first time. */
  async openDirect(userId: string): Promise<void> {
    const conversation = await this.chat.openDirect(userId);
    this.directory.remember({
      conversationId: conversation.conversationId,
      members: conversation.members,
      direct: true,
      lastActivityAt: new Date().toISOString(),
    });
    this.open(conversation.conversationId);
  }

  send(body: string): void {
    this.view?.send(body);
  }

  attach(file: File): void {
    void this.view?.attach(file);
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
      ui.conversationError.textContent = `Could not leave: ${describeError(err)}`;
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
      ui.conversationListHint.textContent = `Could not list conversations: ${describeError(err)}`;
    } finally {
      ui.refreshList.disabled = false;
    }
  }

  renderList(): void {
    const unsent = new Map<string, number>();
    for (const entry of this.chat.outbox())
      unsent.set(entry.conversationId, (unsent.get(entry.conversationId) ?? 0) + 1);
    const items = this.directory.all().map((c) => {
      const count = unsent.get(c.conversationId) ?? 0;
      return h(
        'li',
        {},
        h(
          'button',
          {
            type: 'button',
            class: 'conversation-item',
            'data-conversation-id': c.conversationId,
            'aria-current': c.conversationId === this.view?.conversationId ? 'true' : undefined,
          },
          h('span', { class: 'title', dir: 'auto' }, conversationLabel(c, this.userId)),
          h(
            'span',
            { class: 'subtle' },
            c.lastActivityAt ? formatTime(c.lastActivityAt) : c.conversationId.slice(0, 8),
          ),
          c.preview ? h('span', { class: 'preview subtle', dir: 'auto' }, c.preview) : null,
          c.unread
            ? h(
                'span',
                { class: 'unread', title: `${c.unread} unread`, 'data-unread': String(c.unread) },
                String(c.unread),
              )
            : null,
          count > 0 ? h('span', { class: 'badge' }, `${count} unsent`) : null,
        ),
      );
    });
    ui.conversationList.replaceChildren(...items);
    ui.conversationListHint.textContent =
      items.length === 0
        ? 'No conversations yet: create one, or open one by id.'
        : this.listTruncated
          ? 'Older conversations are left out: open them by id.'
          : '';
    this.view?.renderHeader();
  }

  close(): void {
    this.view?.close();
    this.chat.close();
  }
}

async function main(): Promise<void> {
  const config = (await (await fetch('/config.json', { cache: 'no-store' })).json()) as PageConfig;
  const WebSocket = offlineAwareWebSocket();
  const status = new ConnectionStatus();
  let session: Session | undefined;

  const signIn = async (userId: string): Promise<void> => {
    ui.signInError.textContent = '';
    ui.signInButton.disabled = true;
    try {
      const tokens = new DevTokens(userId);
      await tokens.get(); // a refused user id is reported here, not as an endless reconnect
      sessionStorage.setItem(SESSION_USER_KEY, userId);
      ui.whoName.textContent = userId;
      ui.who.hidden = false;
      ui.signInScreen.hidden = true;
      ui.chatScreen.hidden = false;
      session = new Session(userId, tokens, config, WebSocket, status);
    } catch (err: unknown) {
      ui.signInError.textContent = err instanceof Error ? err.message : String(err);
    } finally {
      ui.signInButton.disabled = false;
    }
  };

  ui.signInForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const userId = ui.userId.value.trim();
    if (userId) void signIn(userId);
  });

  ui.signOut.addEventListener('click', () => {
    session?.close();
    session = undefined;
    sessionStorage.removeItem(SESSION_USER_KEY);
    status.signedOut();
    ui.who.hidden = true;
    ui.chatScreen.hidden = true;
    ui.signInScreen.hidden = false;
    ui.noConversation.hidden = false;
    ui.conversationPane.hidden = true;
    ui.conversationList.replaceChildren();
    document.body.dataset.view = 'list';
  });

  ui.conversationList.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const item = target?.closest<HTMLButtonElement>('button[data-conversation-id]');
    if (item?.dataset.conversationId) session?.open(item.dataset.conversationId);
  });

  ui.createForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!session) return;
    const members = userIdList(ui.createMembers.value, session.userId);
    const title = ui.createTitle.value.trim() || undefined;
    ui.createError.textContent = '';
    ui.createButton.disabled = true;
    session
      .create(members, title)
      .then(() => ui.createForm.reset())
      .catch((err: unknown) => {
        ui.createError.textContent = describeError(err);
      })
      .finally(() => {
        ui.createButton.disabled = false;
      });
  });

  ui.directForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const other = ui.directUser.value.trim();
    if (!session || !other) return;
    ui.directError.textContent = '';
    ui.directButton.disabled = true;
    session
      .openDirect(other)
      .then(() => ui.directForm.reset())
      .catch((err: unknown) => {
        ui.directError.textContent = describeError(err);
      })
      .finally(() => {
        ui.directButton.disabled = false;
      });
  });

  ui.openForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const conversationId = ui.openId.value.trim();
    if (!session || !conversationId) return;
    session.open(conversationId);
    ui.openForm.reset();
  });

  ui.sendForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = ui.messageInput.value;
    if (body.trim() === '') return;
    session?.send(body);
    ui.messageInput.value = '';
  });

  ui.messageInput.addEventListener('input', () => session?.typed());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') session?.visible();
  });

  ui.messageInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.sendForm.requestSubmit();
    }
  });

  ui.loadOlder.addEventListener('click', () => session?.loadOlder());
  ui.attachInput.addEventListener('change', () => {
    const file = ui.attachInput.files?.[0];
    ui.attachInput.value = '';
    if (file) session?.attach(file);
  });
  ui.leave.addEventListener('click', () => void session?.leave());
  ui.membersToggle.addEventListener('click', () =>
    showMembersPanel(ui.membersToggle.ariaExpanded !== 'true'),
  );
  ui.addMembersForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!session) return;
    const userIds = userIdList(ui.addMembers.value, session.userId);
    if (userIds.length === 0) return;
    ui.addMembersButton.disabled = true;
    session
      .addMembers(userIds)
      .then((accepted) => {
        if (accepted) ui.addMembersForm.reset();
      })
      .finally(() => {
        ui.addMembersButton.disabled = false;
      });
  });
  ui.refreshList.addEventListener('click', () => void session?.refreshList());
  // Pushes that name the user (added, removed) are best effort: coming back to the tab is when to look again.
  window.addEventListener('focus', () => void session?.refreshList());
  ui.back.addEventListener('click', () => {
    document.body.dataset.view = 'list';
  });

  const userId = new URLSearchParams(location.search).get('user') ?? sessionStorage.getItem(SESSION_USER_KEY);
  if (userId) {
    ui.userId.value = userId;
    await signIn(userId);
  } else ui.userId.focus();
}

main().catch((err: unknown) => {
  ui.signInError.textContent = `The page could not start: ${String(err)}`;
});
