import type { ChatClient, Invitation } from '../client';
import { actionButton, h } from './dom';
import { clearErrorLines, inWords } from './messages-in-words';
import { ui } from './ui';

/**
 * The invitations panel of the sidebar: groups someone invited this user to (their "who can add me"
 * did not admit that person), each with Accept and Decline. Read with `listInvitations` on every
 * connection, and added to by `invitation` pushes. Beside it, the "who can add me" setting.
 */
export class Invitations {
  private invitations = new Map<string, Invitation>();

  constructor(
    private readonly chat: ChatClient,
    /** An invitation was accepted: the conversation is now one of the user's. */
    private readonly joined: (conversationId: string) => void,
  ) {
    chat.on('open', () => void this.refresh());
    ui.whoCanAdd.onchange = () => void this.setWhoCanAdd(ui.whoCanAdd.value);
    chat.on('invitation', (invitation) => {
      this.invitations.set(invitation.conversationId, invitation);
      this.render();
    });
  }

  private async setWhoCanAdd(value: string): Promise<void> {
    if (value !== 'anyone' && value !== 'contacts' && value !== 'nobody') return;
    ui.invitationError.textContent = '';
    try {
      ui.whoCanAdd.value = await this.chat.setWhoCanAdd(value);
      clearErrorLines();
    } catch (err: unknown) {
      ui.invitationError.textContent = inWords(err, 'settings');
    }
  }

  private async refresh(): Promise<void> {
    try {
      const [listed, blocked] = await Promise.all([
        this.chat.listInvitations(),
        this.chat.request('listBlocked', {}),
      ]);
      ui.whoCanAdd.value = blocked.whoCanAdd;
      this.invitations = new Map(listed.map((invitation) => [invitation.conversationId, invitation]));
      this.render();
    } catch (err: unknown) {
      console.warn('serverless-chat: could not list invitations', err);
    }
  }

  private async answer(invitation: Invitation, accept: boolean): Promise<void> {
    ui.invitationError.textContent = '';
    try {
      const { conversationId } = invitation;
      if (accept) {
        const { joined } = await this.chat.accept(conversationId);
        if (joined) this.joined(conversationId);
      } else await this.chat.decline(conversationId);
      clearErrorLines();
      this.invitations.delete(conversationId);
      this.render();
    } catch (err: unknown) {
      ui.invitationError.textContent = inWords(err, accept ? 'accept' : 'decline');
    }
  }

  /** Draws the panel; hidden while there is no invitation. */
  render(): void {
    ui.invitations.hidden = this.invitations.size === 0;
    ui.invitationList.replaceChildren(
      ...[...this.invitations.values()].map((invitation) =>
        h(
          'li',
          { 'data-invitation': invitation.conversationId },
          h(
            'span',
            { dir: 'auto' },
            `${invitation.invitedBy} invited you to ${invitation.title ?? 'a group'}`,
          ),
          ' ',
          actionButton('Accept', () => void this.answer(invitation, true)),
          ' ',
          actionButton('Decline', () => void this.answer(invitation, false)),
        ),
      ),
    );
  }
}
