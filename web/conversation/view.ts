/**
 * One open conversation. ConversationView runs its stream and coordinates the parts, one file each:
 * - messages.ts: the transcript (messages and membership lines in seq order, edits, deletes,
 *   attachments, seen marks)
 * - outbox.ts: your pending and failed messages under it
 * - members.ts: the known members and the Members panel
 * - presence.ts and typing.ts: the lines under the header, who is online and who is typing
 */
import type {
  AttachmentContentType,
  ChatClient,
  ChatMessage,
  ChatRequestError,
  ConversationStream,
  MembershipEvent,
  OutboxEvent,
} from '../../client';
import { ATTACHMENT_CONTENT_TYPES } from '../../shared/attachment-types';
import { type ConversationDirectory, conversationLabel } from '../conversations';
import { clearErrorLines, inWords, NOT_IN_CONVERSATION } from '../messages-in-words';
import { ui } from '../ui';
import { MembersPanel, showMembersPanel } from './members';
import { Transcript } from './messages';
import { OutboxRows } from './outbox';
import { PresenceLine } from './presence';
import { hideStranded, showStranded } from './stranded';
import { TypingLine } from './typing';

/** Messages read per "load older" (and when a conversation opens). */
const PAGE_SIZE = 50;

/** What a view needs from the signed-in session (../session.ts). */
export interface ViewHost {
  readonly userId: string;
  readonly chat: ChatClient;
  readonly directory: ConversationDirectory;
  /** Who has read how far in a conversation, kept across its views. */
  receipts(conversationId: string): Map<string, number>;
  /** The conversation answered its subscribe, or this user sent to it. */
  opened(conversationId: string): void;
  /** The conversation does not exist or this user is not in it: it leaves the list. */
  unavailable(conversationId: string): void;
  /** A message of the conversation is the newest one shown: the list's preview follows it. */
  newest(message: ChatMessage): void;
  /** Whether this page's own connection is open (others' presence is only known while it is). */
  readonly connected: boolean;
  /** Draws the conversation list again (unread counts, unsent badges). */
  renderList(): void;
}

/** One open conversation: its stream rendered in seq order, and its outbox entries below. */
export class ConversationView {
  private readonly stream: ConversationStream;
  private readonly transcript: Transcript;
  private readonly outbox: OutboxRows;
  private readonly typing = new TypingLine();
  private readonly presence: PresenceLine;
  private readonly members: MembersPanel;
  /** The read cursor this page last sent. */
  private readSeq = 0;
  /** The conversation could not be opened: nothing but its error line and stranded messages shows. */
  private unavailable = false;
  private readScheduled = false;
  private closed = false;

  constructor(
    private readonly session: ViewHost,
    readonly conversationId: string,
  ) {
    this.presence = new PresenceLine(session.userId, () => session.connected);
    this.transcript = new Transcript(
      session.chat,
      session.userId,
      conversationId,
      session.receipts(conversationId),
    );
    this.members = new MembersPanel(session.chat, session.directory, session.userId, conversationId);
    showMembersPanel(false);
    this.renderHeader();
    this.members.render();
    hideStranded();
    this.outbox = new OutboxRows(session.chat, () => session.renderList());
    ui.loadOlder.hidden = true;
    this.presence.clear();
    this.composer(true);
    ui.noConversation.hidden = true;
    ui.conversationPane.hidden = false;

    for (const entry of session.chat.outbox(conversationId)) this.outbox.show(entry);
    this.stream = session.chat.conversation(conversationId);
    this.stream.on('message', (message) => {
      this.transcript.showMessage(message);
      if (message.seq === this.stream.lastSeq) session.newest(message);
      this.typing.stop(message.senderId);
      this.scheduleRead();
    });
    this.stream.on('update', (update) => this.transcript.showUpdate(update));
    this.stream.on('typing', ({ userId }) => this.typing.show(userId));
    this.stream.on('read', ({ userId, seq }) => this.transcript.readBy(userId, seq));
    this.stream.on('membership', (event) => {
      this.transcript.showMembership(event);
      this.membershipChanged(event);
    });
    this.stream.on('error', (err) => this.refused(err));
    this.stream.ready.then(
      () => {
        if (this.closed) return;
        session.opened(conversationId);
        this.scheduleRead();
        void this.loadOlder();
        this.askPresence();
      },
      () => undefined, // the error event says why
    );
  }

  /** Asks who is online and how far each member has read (on opening, and again after a reconnect). */
  askPresence(): void {
    const { conversationId } = this;
    this.session.chat.request('presence', { conversationId }).then(
      ({ online, readSeqs }) => {
        if (this.closed) return;
        for (const userId of online) this.presence.set(userId, true);
        if (readSeqs) {
          this.members.listed(readSeqs.map((m) => m.userId));
          for (const { userId, readSeq } of readSeqs) this.transcript.readBy(userId, readSeq);
        }
        this.renderHeader();
      },
      () => undefined, // the dots stay grey; presence events still update them
    );
  }

  /** This page's connection opened or dropped: the presence dots are known, or greyed until it is back. */
  connectionChanged(open: boolean): void {
    if (this.closed) return;
    if (open) this.askPresence();
    else this.presence.forgetOnline();
    this.presence.render(this.members.list);
  }

  /** Unsubscribes; answers that arrive later change nothing on screen. */
  close(): void {
    this.closed = true;
    this.members.close();
    this.stream.close();
    this.typing.clear();
  }

  /**
   * This user is no longer a member (removed, or left, maybe in another tab): the transcript stays on
   * screen with the line that says so, and nothing more can be done here.
   */
  ended(event: MembershipEvent): void {
    this.transcript.showMembership(event);
    ui.conversationError.textContent =
      event.kind === 'member_left'
        ? 'You left this conversation.'
        : `${event.by} removed you from this conversation.`;
    this.composer(false);
    ui.loadOlder.hidden = true;
    ui.membersToggle.hidden = true;
    ui.leave.hidden = true;
    showMembersPanel(false);
    this.presence.clear();
    this.close();
  }

  /** Title and members as far as the directory knows them (a conversation opened by id may have neither yet). */
  renderHeader(): void {
    const known = this.session.directory.get(this.conversationId);
    ui.conversationTitle.textContent = known ? conversationLabel(known, this.session.userId) : 'Conversation';
    const members = this.members.list;
    ui.conversationMembers.textContent = members ? `${members.join(', ')} · ` : '';
    ui.conversationId.textContent = this.conversationId;
    // A direct conversation has exactly its two members: nobody is added, removed, or leaves.
    ui.membersToggle.hidden = known?.direct === true || this.unavailable;
    ui.leave.hidden = known?.direct === true || this.unavailable;
    ui.blockDirect.hidden = known?.direct !== true || this.unavailable;
    ui.attach.hidden = this.unavailable;
    if (known?.direct) showMembersPanel(false);
    this.presence.render(members);
  }

  /** Adds members to this conversation; false when the server refused. */
  addMembers(userIds: string[]): Promise<boolean> {
    return this.members.add(userIds);
  }

  /** A presence event: only users this conversation shows (members, or seen online here) matter. */
  presenceChanged(userId: string, online: boolean): void {
    this.presence.set(userId, online);
    this.presence.render(this.members.list);
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

  /** Reads the page before the oldest message shown, keeping what is on screen where it is. */
  async loadOlder(): Promise<void> {
    ui.loadOlder.disabled = true;
    try {
      const fromBottom = ui.scroller.scrollHeight - ui.scroller.scrollTop;
      const page = await this.stream.loadOlder(PAGE_SIZE);
      if (this.closed) return;
      for (const message of page.messages) this.transcript.showMessage(message, { scroll: false });
      for (const change of page.membership) this.transcript.showMembership(change, { scroll: false });
      for (const entry of page.deleted) {
        const { conversationId, seq, senderId, deletedAt, version } = entry;
        this.transcript.showMessage(
          { conversationId, seq, senderId, body: '', sentAt: deletedAt },
          { scroll: false },
        );
        this.transcript.showUpdate({ conversationId, seq, version, body: '', deleted: true, deletedAt });
      }
      ui.scroller.scrollTop = ui.scroller.scrollHeight - fromBottom;
      ui.loadOlder.hidden = !page.hasMore;
    } catch (err: unknown) {
      if (!this.closed) ui.conversationError.textContent = inWords(err, 'older');
    } finally {
      ui.loadOlder.disabled = false;
    }
  }

  /** Sends through the outbox, which shows the message as pending until its ack. */
  send(body: string): void {
    clearErrorLines();
    this.session.chat.send(this.conversationId, body);
    this.session.opened(this.conversationId);
  }

  /** Uploads a file straight to the bucket, then sends a message that carries it. */
  async attach(file: File): Promise<void> {
    const type = file.type as AttachmentContentType;
    if (!(ATTACHMENT_CONTENT_TYPES as readonly string[]).includes(type)) {
      ui.conversationError.textContent = `${file.name || 'This file'} cannot be attached: images (PNG, JPEG, GIF, WebP) and PDF only.`;
      return;
    }
    ui.conversationError.textContent = `Uploading ${file.name}…`;
    try {
      await this.session.chat.attach(this.conversationId, file, type, file.name || type);
      if (!this.closed) clearErrorLines();
      this.session.opened(this.conversationId);
    } catch (err: unknown) {
      if (!this.closed) ui.conversationError.textContent = inWords(err, 'attach');
    }
  }

  /** A live membership change: the member list and presence dots follow it. */
  private membershipChanged(event: MembershipEvent): void {
    if (event.kind === 'member_removed' || event.kind === 'member_left')
      for (const userId of event.userIds) this.presence.set(userId, false);
    this.members.changed(event);
    this.renderHeader();
  }

  /** An outbox change: a sent entry becomes a message at its seq, any other is shown as pending or failed. */
  onOutbox(event: OutboxEvent): void {
    if (event.entry.conversationId !== this.conversationId || this.closed) return;
    if (this.unavailable) {
      showStranded(this.session.chat, this.conversationId);
      return;
    }
    if (event.status === 'sent') {
      this.outbox.remove(event.entry.clientMessageId);
      const { conversationId, seq, sentAt } = event.ack;
      const message: ChatMessage = {
        conversationId,
        seq,
        sentAt,
        senderId: this.session.userId,
        body: event.entry.body,
        ...(event.entry.attachment ? { attachment: event.entry.attachment } : {}),
      };
      this.transcript.showMessage(message);
      if (seq >= (this.stream.lastSeq ?? 0)) this.session.newest(message);
    } else this.outbox.show(event.entry);
  }

  /**
   * The subscribe was refused. A conversation that does not exist or that this user is not in (the server
   * does not say which, so as not to tell strangers what exists) leaves the list, and its unsent messages
   * are offered to copy; the controls that need membership go.
   */
  private refused(err: ChatRequestError): void {
    const gone = err.code === 'forbidden' || err.code === 'not_found' || err.code === 'invalid_request';
    ui.conversationError.textContent = gone ? NOT_IN_CONVERSATION : inWords(err, 'open');
    this.composer(false);
    this.unavailable = true;
    ui.loadOlder.hidden = true;
    showMembersPanel(false);
    this.presence.clear();
    this.renderHeader();
    if (!gone) return;
    ui.outbox.replaceChildren();
    showStranded(this.session.chat, this.conversationId);
    this.session.unavailable(this.conversationId);
  }

  private composer(enabled: boolean): void {
    ui.messageInput.disabled = !enabled;
    ui.sendButton.disabled = !enabled;
  }
}
