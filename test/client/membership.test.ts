import { describe, expect, it } from 'vitest';
import { describeMembership, type Invitation } from '../../client';
import { harness, settle } from './fakes';

describe('invitations, the block list and roles in the SDK', () => {
  it('emits an invitation push as an invitation event, and drops a malformed one', async () => {
    // Prepare
    const { chat, connectNow } = harness();
    const socket = await connectNow();
    const heard: Invitation[] = [];
    chat.on('invitation', (invitation) => heard.push(invitation));

    // Act
    socket.receive({
      type: 'invitation',
      conversationId: 'g1',
      invitedBy: 'rae',
      invitedAt: 't1',
      title: 'Trip',
    });
    socket.receive({ type: 'invitation', conversationId: 'g2' });

    // Assess
    expect(heard).toEqual([{ conversationId: 'g1', invitedBy: 'rae', invitedAt: 't1', title: 'Trip' }]);
  });

  it('sends accept, decline, promote, block and setWhoCanAdd with their fields, and answers with the acks', async () => {
    // Prepare
    const { chat, connectNow } = harness();
    const socket = await connectNow();

    // Act
    const accepted = chat.accept('g1');
    const blocked = chat.listBlocked();
    const who = chat.setWhoCanAdd('contacts');
    const promoted = chat.promote('g1', 'bob');
    await settle();
    socket.ack(socket.last('accept'), { conversationId: 'g1', joined: true, seq: 4 });
    socket.ack(socket.last('listBlocked'), { userIds: ['mallory'], whoCanAdd: 'anyone' });
    socket.ack(socket.last('setWhoCanAdd'), { whoCanAdd: 'contacts' });
    socket.ack(socket.last('promote'), { conversationId: 'g1', userId: 'bob', promoted: true, seq: 5 });

    // Assess
    expect(socket.last('setWhoCanAdd')).toMatchObject({ action: 'setWhoCanAdd', whoCanAdd: 'contacts' });
    expect(socket.last('promote')).toMatchObject({ conversationId: 'g1', userId: 'bob' });
    await expect(accepted).resolves.toEqual({ conversationId: 'g1', joined: true, seq: 4 });
    await expect(blocked).resolves.toEqual(['mallory']);
    await expect(who).resolves.toBe('contacts');
    await expect(promoted).resolves.toMatchObject({ promoted: true });
  });

  it('words a promotion', () => {
    expect(describeMembership({ kind: 'member_promoted', userIds: ['bob'], by: 'alice' })).toBe(
      'alice made bob an admin',
    );
  });
});
