/**
 * The line under a room's header: its viewer count, its slow mode (with a countdown after each message
 * of yours), its link (a public room's for anyone, a link room's, with its invite code, for its admins)
 * and, for an admin, the slow mode to set, a new link for a link room, and the Banned panel
 * (./room-moderation.ts). Hidden for any other conversation.
 */
import type { ChatClient, RoomInfo } from '../../client';
import { inWords } from '../messages-in-words';
import { roomLink } from '../room-link';
import { ui } from '../ui';
import { RoomModeration } from './room-moderation';

/**
 * How long an open room may stay quiet before its settings and viewer count are read again (while the
 * page is visible). Every message pushed to the room tells its viewer count, so a room that talks costs
 * no `roomInfo`; a quiet one (people gathering before an event) still sees its count move once a minute.
 */
const REFRESH_MS = 60_000;

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

export class RoomBar {
  private info: RoomInfo | undefined;
  /** The first read of the room's settings, asked once however many state changes come meanwhile. */
  private finding: Promise<void> | undefined;
  /** When this user's next message may go (epoch ms), after their last one was acked in slow mode. */
  private nextTurnAt = 0;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  /** The room's last seq as the page last heard it, and when it moved: a message brought a fresh count. */
  private lastSeq = 0;
  private heardAt = Date.now();
  private readonly moderation: RoomModeration;
  private closed = false;

  constructor(
    private readonly chat: ChatClient,
    userId: string,
    private readonly conversationId: string,
    /** How many of this user's messages to the room wait unsent. */
    private readonly waiting: () => number,
  ) {
    ui.roomBar.hidden = true;
    this.moderation = new RoomModeration(chat, userId, conversationId);
    ui.roomCopyLink.onclick = () => void this.copyLink();
    ui.roomNewLink.onclick = () => void this.newLink();
    ui.roomSlowModeForm.onsubmit = (event) => {
      event.preventDefault();
      void this.setSlowMode(Number(ui.roomSlowModeSet.value));
    };
  }

  /** Whether this conversation is a room, as far as an answer has told. */
  get isRoom(): boolean {
    return this.info !== undefined;
  }

  /**
   * The conversation turned out to be a room (its subscribe answered a viewer count, or the page created
   * or joined it): its settings are read once, unless `info` has them, and kept fresh while it is open.
   */
  found(info?: RoomInfo): Promise<void> {
    if (info) {
      this.show(info);
      this.finding = Promise.resolve();
    }
    this.finding ??= this.chat.roomInfo(this.conversationId).then(
      (read) => this.show(read),
      () => {
        this.finding = undefined; // asked again at the next state change
      },
    );
    return this.finding;
  }

  /**
   * The SDK's viewer count of the room, as of the room's last seq the stream delivered: a message
   * (pushed, or this page's own acked) brings the count with it, so the room is not quiet.
   */
  viewers(count: number | undefined, lastSeq: number): void {
    if (lastSeq !== this.lastSeq) {
      this.lastSeq = lastSeq;
      this.heardAt = Date.now();
    }
    if (count === undefined) return;
    if (this.info) this.info = { ...this.info, memberCount: count };
    ui.roomViewers.textContent = plural(count, 'viewer', 'viewers');
  }

  /** A message of this user was acked here: in slow mode their next one waits its turn. */
  sent(): void {
    if (!this.info?.slowModeSeconds) return;
    this.nextTurnAt = Date.now() + this.info.slowModeSeconds * 1000;
    this.renderSlowMode();
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.moderation.close();
    ui.roomBar.hidden = true;
  }

  /** Reads the room again when it has been quiet for REFRESH_MS. */
  private async refresh(): Promise<void> {
    if (Date.now() - this.heardAt < REFRESH_MS) return;
    this.heardAt = Date.now();
    const info = await this.chat.roomInfo(this.conversationId).catch(() => undefined);
    if (info) this.show(info);
  }

  private show(info: RoomInfo): void {
    if (this.closed) return;
    if (this.timers.length === 0)
      this.timers.push(
        setInterval(() => {
          if (document.visibilityState === 'visible') void this.refresh();
        }, REFRESH_MS / 4),
        setInterval(() => this.renderSlowMode(), 1_000),
      );
    this.info = info;
    ui.roomBar.hidden = false;
    ui.roomViewers.textContent = plural(info.memberCount, 'viewer', 'viewers');
    const admin = info.role === 'admin';
    // A link room's link carries its invite code, which only its admins are given.
    const link =
      info.access === 'public'
        ? roomLink(info.conversationId)
        : info.inviteCode && roomLink(info.conversationId, info.inviteCode);
    ui.roomLinkLine.hidden = !link;
    ui.roomLink.value = link || '';
    ui.roomSlowModeForm.hidden = !admin;
    ui.roomNewLink.hidden = !(admin && info.access === 'link');
    this.moderation.show(admin);
    if (admin && document.activeElement !== ui.roomSlowModeSet)
      ui.roomSlowModeSet.value = String(info.slowModeSeconds);
    this.renderSlowMode();
  }

  /**
   * "Slow mode: one message every 30 s", and after a message of yours "you can send again in 12 s"
   * ("your next message goes out in 12 s" when one waits: the SDK resends it when the server allows).
   */
  private renderSlowMode(): void {
    const seconds = this.info?.slowModeSeconds ?? 0;
    const left = Math.ceil((this.nextTurnAt - Date.now()) / 1000);
    ui.roomSlowModeLine.dataset.countdown = left > 0 && seconds > 0 ? String(left) : '';
    if (seconds === 0) ui.roomSlowModeLine.textContent = '';
    else if (left <= 0)
      ui.roomSlowModeLine.textContent = `Slow mode: one message every ${plural(seconds, 'second', 'seconds')}${
        this.waiting() > 0 ? '; a message sent too soon waits its turn' : ''
      }.`;
    else
      ui.roomSlowModeLine.textContent = `Slow mode: ${
        this.waiting() > 0 ? 'your next message goes out' : 'you can send again'
      } in ${plural(left, 'second', 'seconds')}.`;
  }

  private async setSlowMode(seconds: number): Promise<void> {
    ui.roomSlowModeButton.disabled = true;
    ui.conversationError.textContent = '';
    try {
      this.show(await this.chat.setSlowMode(this.conversationId, seconds));
    } catch (err: unknown) {
      ui.conversationError.textContent = inWords(err, 'slowMode');
    } finally {
      ui.roomSlowModeButton.disabled = false;
    }
  }

  /** A link room's new invite code (admins): the old link stops letting anyone in, and this one shows. */
  private async newLink(): Promise<void> {
    ui.roomNewLink.disabled = true;
    ui.conversationError.textContent = '';
    try {
      this.show(await this.chat.newInviteCode(this.conversationId));
    } catch (err: unknown) {
      ui.conversationError.textContent = inWords(err, 'newLink');
    } finally {
      ui.roomNewLink.disabled = false;
    }
  }

  private async copyLink(): Promise<void> {
    ui.roomLink.select();
    await navigator.clipboard?.writeText(ui.roomLink.value).catch(() => undefined);
  }
}
