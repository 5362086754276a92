import type { ChatClient } from '../../client';
import type { ConversationDirectory } from '../conversations';
import { h } from '../dom';
import { clearErrorLines, inWords, type PageAction } from '../messages-in-words';
import { ui } from '../ui';

/** Opens or closes the member panel under the conversation header. */
export const showMembersPanel = (open: boolean): void => {
  ui.membersPanel.hidden = !open;
  ui.membersToggle.ariaExpanded = String(open);
};

/** The open conversation's members, as far as this page knows them, and the panel that adds and removes them. */
export class MembersPanel {
  /** The members, when known: the SDK's `room.state` (created or listed here, or answered by `presence`). */
  private members: readonly string[] | undefined;
  private closed = false;

  constructor(
    private readonly chat: ChatClient,
    private readonly directory: ConversationDirectory,
    private readonly me: string,
    private readonly conversationId: string,
  ) {
    this.members = directory.get(conversationId)?.members;
  }

  /** The members, or undefined when this page does not know them. */
  get list(): readonly string[] | undefined {
    return this.members;
  }

  /** The SDK's member list changed (empty: not known); the directory keeps it for the conversation's name. */
  stateChanged(members: readonly string[]): void {
    if (members.length === 0 || members.join() === this.members?.join()) return;
    this.members = members;
    this.directory.membersChanged(this.conversationId, [...members]);
    this.render();
  }

  /** The view closed: answers that come later write nothing. */
  close(): void {
    this.closed = true;
  }

  /**
   * Adds members; the server skips those who are members already. The `membership` push that follows
   * puts the line in the transcript and the new members in the list. Resolves false when refused.
   */
  async add(userIds: string[]): Promise<boolean> {
    ui.conversationError.textContent = '';
    try {
      const { added, invited = [] } = await this.chat.addMembers(this.conversationId, userIds);
      if (this.closed) return true;
      clearErrorLines();
      if (invited.length > 0)
        ui.conversationError.textContent = `Invited (they accept or decline): ${invited.join(', ')}`;
      else if (added.length === 0)
        ui.conversationError.textContent = `Nobody added: ${userIds.join(', ')} already in this conversation`;
      return true;
    } catch (err: unknown) {
      if (!this.closed) ui.conversationError.textContent = inWords(err, 'add');
      return false;
    }
  }

  /**
   * The member panel: each member, with Remove, Promote (groups) and Block next to the others. The page
   * does not know who is an admin, so everyone gets the buttons and the server's refusal is shown in the
   * error line.
   */
  render(): void {
    const direct = this.directory.get(this.conversationId)?.direct === true;
    ui.membersToggle.textContent = this.members ? `Members (${this.members.length})` : 'Members';
    ui.memberList.replaceChildren(
      ...(this.members?.map((userId) =>
        h(
          'li',
          { 'data-user': userId },
          h('span', { dir: 'auto' }, userId === this.me ? `${userId} (you)` : userId),
          userId === this.me || direct ? null : this.removeButton(userId),
          userId === this.me || direct ? null : this.promoteButton(userId),
          userId === this.me ? null : this.blockButton(userId),
        ),
      ) ?? [h('li', { class: 'subtle' }, 'The member list is not known here; you can still add people.')]),
    );
  }

  /** Makes the member an admin; the `member_promoted` line in the transcript says it was done. */
  private promoteButton(userId: string): HTMLButtonElement {
    return this.memberAction(
      userId,
      'Promote',
      'promote',
      `Make ${userId} an admin of this conversation?`,
      async () => {
        const { promoted } = await this.chat.promote(this.conversationId, userId);
        if (!promoted && !this.closed) ui.conversationError.textContent = `${userId} is an admin already`;
      },
    );
  }

  /** Blocks the user: they can no longer open a direct conversation with you nor add you to a group. */
  private blockButton(userId: string): HTMLButtonElement {
    const question = `Block ${userId}? They will not be able to message you directly or add you to groups.`;
    return this.memberAction(userId, 'Block', 'block', question, async () => {
      await this.chat.block(userId);
      if (!this.closed) ui.conversationError.textContent = `You blocked ${userId}`;
    });
  }

  /** A member's button that asks first, runs `act`, and shows a refusal in the error line. */
  private memberAction(
    userId: string,
    label: string,
    action: PageAction,
    question: string,
    act: () => Promise<void>,
  ): HTMLButtonElement {
    const button = h('button', { type: 'button', class: 'link', 'aria-label': `${label} ${userId}` }, label);
    button.addEventListener('click', () => {
      if (!window.confirm(question)) return;
      button.disabled = true;
      act()
        .then(clearErrorLines)
        .catch((err: unknown) => {
          if (!this.closed) ui.conversationError.textContent = inWords(err, action);
        })
        .finally(() => {
          button.disabled = false;
        });
    });
    return button;
  }

  private removeButton(userId: string): HTMLButtonElement {
    const button = h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${userId}` }, 'Remove');
    button.addEventListener('click', () => {
      if (!window.confirm(`Remove ${userId} from this conversation?`)) return;
      button.disabled = true;
      ui.conversationError.textContent = '';
      // On success the `membership` push takes them off the list.
      this.chat.removeMember(this.conversationId, userId).catch((err: unknown) => {
        button.disabled = false;
        if (!this.closed) ui.conversationError.textContent = inWords(err, 'remove');
      });
    });
    return button;
  }
}
