/**
 * One open conversation. ConversationView runs its stream and coordinates the parts, one file each:
 * - messages.ts: the transcript (messages and membership lines in seq order, edits, deletes,
 *   attachments, seen marks)
 * - outbox.ts: your pending and failed messages under it
 * - members.ts: the known members and the Members panel
 * - status-lines.ts: the lines under the header, who is online and who is typing
 * - stranded.ts: the unsent messages of a conversation that cannot be opened
 * Members, typing, read cursors and who is online are the SDK's `room.state`: the page keeps none of it.
 */
import {
  type AttachmentContentType,
  type ChatClient,
  type ChatMessage,
  type ChatRequestError,
  type ConversationState,
  type ConversationStream,
  conversationName,
  type MembershipEvent,
  type OutboxEvent,
  type RoomInfo,
} from '../../client';
import { ATTACHMENT_CONTENT_TYPES } from '../../shared/attachment-types';
import type { ConversationDirectory } from '../conversations';
import { clearErrorLines, inWords, NOT_IN_CONVERSATION } from '../messages-in-words';
import { ui } from '../ui';
import { MembersPanel, showMembersPanel } from './members';
import { Transcript } from './messages';
import { OutboxRows } from './outbox';
import { RoomBar } from './room-bar';
import { renderPresence, renderTyping } from './status-lines';
import { hideStranded, showStranded } from './stranded';

/** Messages read per "load older" (and when a conversation opens). */
const PAGE_SIZE = 50;

/** What a view needs from the signed-in session (../session.ts). */
export interface ViewHost {
  readonly userId: string;
  readonly chat: ChatClient;
  readonly directory: ConversationDirectory;
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
  private readonly members: MembersPanel;
  /** A room's viewer count, slow mode and link; hidden in other conversations. */
  private readonly room: RoomBar;
  /** The read cursor this page last sent. */
  private readSeq = 0;
  /** The conversation could not be opened: nothing but its error line and stranded messages shows. */
  private unavailable = false;
  private readScheduled = false;
  private closed = false;

  /** @param room what the page was answered creating or joining it, when it is a room just joined. */
  constructor(
    private readonly session: ViewHost,
    readonly conversationId: string,
    room?: RoomInfo,
  ) {
    // No backlog: the view reads its last page with loadOlder, which keeps the order on screen and also
    // answers the deleted messages and membership lines in it.
    this.stream = session.chat.conversation(conversationId, { backlog: 0 });
    this.transcript = new Transcript(session.chat, session.userId, conversationId, (seq) =>
      this.stream.seenBy(seq),
    );
    this.members = new MembersPanel(session.chat, session.directory, session.userId, conversationId);
    this.room = new RoomBar(
      session.chat,
      session.userId,
      conversationId,
      () => session.chat.outbox(conversationId).length,
    );
    if (room || session.directory.get(conversationId)?.room) void this.room.found(room);
    showMembersPanel(false);
    this.renderHeader();
    this.members.render();
    hideStranded();
    this.outbox = new OutboxRows(
      session.chat,
      conversationId,
      () => session.renderList(),
      (update) => this.transcript.showUpdate(update),
    );
    ui.loadOlder.hidden = true;
    ui.conversationPresence.replaceChildren();
    ui.typing.textContent = '';
    this.composer(true);
    ui.noConversation.hidden = true;
    ui.conversationPane.hidden = false;

    for (const entry of session.chat.outbox(conversationId)) this.outbox.show(entry);
    this.stream.on('message', (message) => {
      this.transcript.showMessage(message);
      if (message.seq === this.stream.lastSeq) session.newest(message);
      this.scheduleRead();
    });
    this.stream.on('update', (update) => this.transcript.showUpdate(update));
    this.stream.on('state', (state) => this.stateChanged(state));
    this.stream.on('membership', (event) => this.transcript.showMembership(event));
    this.stateChanged(this.stream.state);
    this.stream.on('error', (err) => this.refused(err));
    this.stream.ready.then(
      () => {
        if (this.closed) return;
        session.opened(conversationId);
        this.scheduleRead();
        void this.loadOlder();
      },
      () => undefined, // the error event says why
    );
  }

  /** This page's connection opened or dropped: the presence dots are known, or greyed until it is back. */
  connectionChanged(): void {
    if (!this.closed && !this.unavailable)
      renderPresence(this.stream.state, this.session.userId, this.session.connected);
  }

  /** The SDK's state of the conversation changed: members, presence, typing and receipts follow it. */
  private stateChanged(state: ConversationState): void {
    if (this.closed || this.unavailable) return;
    // Only a room's subscribe answers a viewer count: a room opened by its id is found so.
    if (state.viewers !== undefined) {
      this.room.viewers(state.viewers, state.lastSeq);
      void this.room.found().then(() => this.renderHeader());
    }
    this.members.stateChanged(state.members);
    renderPresence(state, this.session.userId, this.session.connected);
    renderTyping(state);
    this.transcript.receiptsChanged();
    this.renderHeader();
  }

  /** Unsubscribes; answers that arrive later change nothing on screen. */
  close(): void {
    this.closed = true;
    this.room.close();
    this.members.close();
    this.stream.close();
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
    ui.attach.hidden = true;
    showMembersPanel(false);
    ui.conversationPresence.replaceChildren();
    ui.typing.textContent = '';
    this.close();
  }

  /** Title and members as far as the directory knows them (a conversation opened by id may have neither yet). */
  renderHeader(): void {
    const known = this.session.directory.get(this.conversationId);
    const members = this.members.list;
    ui.conversationTitle.textContent = conversationName(
      {
        conversationId: this.conversationId,
        ...known,
        ...(members ? { members, memberCount: members.length } : {}),
      },
      this.session.userId,
    );
    ui.conversationMembers.textContent = members ? `${members.join(', ')} · ` : '';
    ui.conversationId.textContent = this.conversationId;
    // A direct conversation has exactly its two members: nobody is added, removed, or leaves. A room has
    // an audience, not a member list: its bar counts the viewers, and the names online are not listed.
    const room = this.room.isRoom || known?.room === true;
    ui.conversationPresence.hidden = room;
    ui.membersToggle.hidden = known?.direct === true || room || this.unavailable;
    ui.leave.hidden = known?.direct === true || this.unavailable;
    ui.blockDirect.hidden = known?.direct !== true || this.unavailable;
    ui.attach.hidden = this.unavailable;
    if (known?.direct) showMembersPanel(false);
  }

  /** Adds members to this conversation; false when the server refused. */
  addMembers(userIds: string[]): Promise<boolean> {
    return this.members.add(userIds);
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

  /**
   * Sends a message that carries `file`: it takes its place in the outbox now, in the order typed, and the
   * SDK uploads the file straight to the bucket before sending it (later messages wait behind it).
   */
  attach(file: File): void {
    const type = file.type as AttachmentContentType;
    if (!(ATTACHMENT_CONTENT_TYPES as readonly string[]).includes(type)) {
      ui.conversationError.textContent = `${file.name || 'This file'} cannot be attached: images (PNG, JPEG, GIF, WebP) and PDF only.`;
      return;
    }
    clearErrorLines();
    const name = file.name || type;
    // A failed upload or send shows on its outbox row (failed, with Retry and Discard).
    this.session.chat
      .send(this.conversationId, name, { file: { data: file, contentType: type, name } })
      .catch(() => undefined);
    this.session.opened(this.conversationId);
  }

  /** An outbox change: a sent entry becomes a message at its seq, any other is shown as pending or failed. */
  onOutbox(event: OutboxEvent): void {
    if (event.entry.conversationId !== this.conversationId || this.closed) return;
    if (this.unavailable) {
      this.strand();
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
      this.room.sent();
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
    this.room.close();
    ui.loadOlder.hidden = true;
    showMembersPanel(false);
    ui.conversationPresence.replaceChildren();
    ui.typing.textContent = '';
    this.renderHeader();
    if (!gone) return;
    ui.outbox.replaceChildren();
    this.strand();
  }

  /** Offers the unsent messages of a conversation that cannot be opened; the list follows what is left. */
  private strand(): void {
    showStranded(this.session.chat, this.conversationId, () => this.session.unavailable(this.conversationId));
    this.session.unavailable(this.conversationId);
  }

  private composer(enabled: boolean): void {
    ui.messageInput.disabled = !enabled;
    ui.sendButton.disabled = !enabled;
  }
}
