/**
 * A room's "Banned" panel, for its admins: ban a user by id (`removeMember` in a room: they are out and
 * cannot join again), and the users banned, a page at a time when opened, each with Unban (they may join
 * again). Nothing is read until an admin opens the panel.
 */
import type { ChatClient } from '../../client';
import { actionButton, h } from '../dom';
import { inWords } from '../messages-in-words';
import { ui } from '../ui';

/** Bans shown per page: most rooms ban few, and More reads the next page. */
const PAGE = 50;

export class RoomModeration {
  /** Where the next page starts; undefined when the list is read to its end (or not read yet). */
  private cursor: string | undefined;
  private closed = false;

  constructor(
    private readonly chat: ChatClient,
    /** This page's user: banning yourself would be a leave (removeMember naming yourself). */
    private readonly userId: string,
    private readonly conversationId: string,
  ) {
    ui.roomModeration.hidden = true;
    ui.roomModeration.open = false;
    ui.roomBanned.replaceChildren();
    ui.roomBannedEmpty.hidden = true;
    ui.roomBannedMore.hidden = true;
    ui.roomModeration.ontoggle = () => {
      if (ui.roomModeration.open) void this.reload();
    };
    ui.roomBannedMore.onclick = () => void this.readPage();
    ui.roomBanForm.onsubmit = (event) => {
      event.preventDefault();
      const userId = ui.roomBanUser.value.trim();
      if (userId) void this.ban(userId);
    };
  }

  /** Shown to the room's admins only. */
  show(admin: boolean): void {
    if (!this.closed) ui.roomModeration.hidden = !admin;
  }

  close(): void {
    this.closed = true;
    ui.roomModeration.hidden = true;
  }

  /** Reads the list again from its first page. */
  private async reload(): Promise<void> {
    this.cursor = undefined;
    ui.roomBanned.replaceChildren();
    await this.readPage();
  }

  private async readPage(): Promise<void> {
    ui.roomBannedMore.disabled = true;
    try {
      const page = await this.chat.listBanned(this.conversationId, {
        limit: PAGE,
        ...(this.cursor && { cursor: this.cursor }),
      });
      if (this.closed) return;
      for (const { userId, by, bannedAt } of page.banned)
        ui.roomBanned.append(this.row(userId, by, bannedAt));
      this.cursor = page.nextCursor;
      ui.roomBannedMore.hidden = !page.hasMore;
      ui.roomBannedEmpty.hidden = ui.roomBanned.childElementCount > 0;
    } catch (err: unknown) {
      ui.conversationError.textContent = inWords(err, 'remove');
    } finally {
      ui.roomBannedMore.disabled = false;
    }
  }

  private row(userId: string, by: string, bannedAt: string): HTMLLIElement {
    const row = h(
      'li',
      { 'data-user': userId },
      h('span', { dir: 'auto' }, userId),
      ' ',
      h('span', { class: 'subtle', title: bannedAt }, `banned by ${by}`),
      ' ',
    );
    row.append(actionButton('Unban', () => void this.unban(userId, row)));
    return row;
  }

  private async ban(userId: string): Promise<void> {
    ui.conversationError.textContent = '';
    if (userId === this.userId) {
      ui.conversationError.textContent = 'You cannot ban yourself; Leave leaves the room.';
      return;
    }
    ui.roomBanButton.disabled = true;
    try {
      await this.chat.removeMember(this.conversationId, userId);
      ui.roomBanForm.reset();
      if (ui.roomModeration.open) await this.reload();
    } catch (err: unknown) {
      ui.conversationError.textContent = inWords(err, 'remove');
    } finally {
      ui.roomBanButton.disabled = false;
    }
  }

  private async unban(userId: string, row: HTMLLIElement): Promise<void> {
    ui.conversationError.textContent = '';
    try {
      await this.chat.unbanMember(this.conversationId, userId);
      row.remove();
      ui.roomBannedEmpty.hidden = ui.roomBanned.childElementCount > 0;
    } catch (err: unknown) {
      ui.conversationError.textContent = inWords(err, 'unban');
    }
  }
}
