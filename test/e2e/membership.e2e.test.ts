import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { drain } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';
import type { ChatClient, Frame } from './chat-client';
import { connectAs, createConversation, letAnyoneAdd, sendMessage } from './helpers';

const { runtime, track } = useLocalRuntime();
// Membership without consent as the subject: the users added here let anyone add them. The tests of
// consent use users of their own (sol, who lets nobody add him; ada, ben and cyd, who never chose).
beforeAll(() =>
  letAnyoneAdd(runtime(), [
    ...['bob', 'carol', 'dora', 'ed', 'fay', 'gil', 'gus', 'hal', 'ivy', 'kim', 'max', 'nia', 'oto'],
    ...['pam', 'tom', 'vic', 'wes', 'xan', 'yul', 'zoe'],
  ]),
);

/**
 * What a client shows of a conversation, by seq: the message and membership pushes, and the messages it
 * sent itself, which it has from their acks (the sending connection is not pushed them).
 */
const ordered = (client: ChatClient, conversationId: string): string[] =>
  [
    ...client
      .pushes(conversationId)
      .filter((frame) => ['message', 'membership'].includes(String(frame.type))),
    ...client.frames.filter(
      (frame) => frame.conversationId === conversationId && frame.type === 'ack' && frame.action === 'send',
    ),
  ]
    .sort((a, b) => Number(a.seq) - Number(b.seq))
    .map((frame) => (frame.type === 'membership' ? `${frame.event}:${frame.seq}` : `message:${frame.seq}`));

const pushed = (client: ChatClient, type: string): Frame[] =>
  client.pushes().filter((frame) => frame.type === type);

describe('membership through the local runtime', () => {
  it('orders add, remove and leave with the messages; a removed member receives nothing more and can neither read nor send', async () => {
    // Prepare
    const alice = await track(connectAs(runtime(), 'alice'));
    const bob = await track(connectAs(runtime(), 'bob'));
    const carol = await track(connectAs(runtime(), 'carol'));
    const conversationId = await createConversation(alice, ['bob']);
    await alice.request({ action: 'subscribe', conversationId });
    await bob.request({ action: 'subscribe', conversationId });

    // Act
    await sendMessage(alice, conversationId, 'm1', 'hello');
    const added = await alice.request({ action: 'addMembers', conversationId, members: ['carol'] });
    await carol.request({ action: 'subscribe', conversationId });
    const bobRemovesCarol = await bob.request({ action: 'removeMember', conversationId, userId: 'carol' });
    const removed = await alice.request({ action: 'removeMember', conversationId, userId: 'bob' });
    await sendMessage(alice, conversationId, 'm2', 'bob cannot see this');
    const bobSends = await bob.request({
      action: 'send',
      conversationId,
      clientMessageId: 'b1',
      body: 'still here?',
    });
    const bobReads = await bob.request({ action: 'history', conversationId });
    const left = await carol.request({ action: 'leave', conversationId });
    // Resends whose acks were lost: answered as the first attempts were, recording nothing again.
    const leftAgain = await carol.request({ action: 'leave', conversationId });
    const removedAgain = await alice.request({ action: 'removeMember', conversationId, userId: 'bob' });
    const history = await alice.request({ action: 'history', conversationId });

    // Assess
    expect(added).toMatchObject({ type: 'ack', added: ['carol'], seq: 2 });
    expect(bobRemovesCarol).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(removed).toMatchObject({ type: 'ack', userId: 'bob', removed: true, seq: 3 });
    expect(bobSends).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(bobReads).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(left).toMatchObject({ type: 'ack', userId: 'carol', removed: true, seq: 5 });
    expect(leftAgain).toMatchObject({ type: 'ack', userId: 'carol', removed: true, seq: 5 });
    expect(removedAgain).toMatchObject({ type: 'ack', userId: 'bob', removed: true, seq: 3 });
    await expect
      .poll(() => ordered(alice, conversationId), { timeout: 10_000 })
      .toEqual(['message:1', 'member_added:2', 'member_removed:3', 'message:4', 'member_left:5']);
    expect(pushed(alice, 'membership').at(1)).toEqual({
      type: 'membership',
      conversationId,
      seq: 3,
      event: 'member_removed',
      userIds: ['bob'],
      by: 'alice',
      at: expect.any(String),
    });
    await drain(bob);
    // bob hears of the group when it is created (seq 0: the creation takes no seq), of his own removal, and of
    // nothing after it.
    expect(ordered(bob, conversationId)).toEqual([
      'member_added:0',
      'message:1',
      'member_added:2',
      'member_removed:3',
    ]);
    expect(history.messages).toMatchObject([
      { seq: 1, body: 'hello' },
      { seq: 2, tombstone: true, kind: 'member_added', userIds: ['carol'], by: 'alice' },
      { seq: 3, tombstone: true, kind: 'member_removed', userIds: ['bob'], by: 'alice' },
      { seq: 4, body: 'bob cannot see this' },
      { seq: 5, tombstone: true, kind: 'member_left', userIds: ['carol'], by: 'carol' },
    ]);
    const list = await alice.request({ action: 'presence', conversationId });
    expect(list).toMatchObject({ type: 'ack', online: ['alice'] });
  });

  it('tells the users a change names on their connections, subscribed there or not', async () => {
    // Prepare: hal is connected but subscribes to nothing; ivy subscribes to the conversation.
    const gil = await track(connectAs(runtime(), 'gil'));
    const hal = await track(connectAs(runtime(), 'hal'));
    const ivy = await track(connectAs(runtime(), 'ivy'));
    const conversationId = await createConversation(gil, ['ivy']);
    await ivy.request({ action: 'subscribe', conversationId });

    // Act
    await gil.request({ action: 'addMembers', conversationId, members: ['hal'] });
    await gil.request({ action: 'removeMember', conversationId, userId: 'ivy' });

    // Assess: hal hears he was added; ivy hears the group was created with her, and that she was removed,
    // once, though unsubscribed by then.
    const membershipOf = (client: typeof hal) =>
      client.pushes(conversationId).filter((frame) => frame.type === 'membership');
    await expect
      .poll(() => membershipOf(hal), { timeout: 10_000 })
      .toMatchObject([{ event: 'member_added', userIds: ['hal'], by: 'gil', seq: 1 }]);
    await expect
      .poll(() => membershipOf(ivy), { timeout: 10_000 })
      .toMatchObject([
        { event: 'member_added', userIds: ['ivy'], by: 'gil', seq: 0 },
        { event: 'member_added', userIds: ['hal'], seq: 1 },
        { event: 'member_removed', userIds: ['ivy'], by: 'gil', seq: 2 },
      ]);
    await drain(ivy);
    expect(membershipOf(ivy)).toHaveLength(3);
  });

  it('refuses removeMember and leave in a direct conversation', async () => {
    // Prepare
    const dora = await track(connectAs(runtime(), 'dora'));
    const created = await dora.request({ action: 'createConversation', direct: true, members: ['ed'] });
    const conversationId = String((created.conversation as Frame).conversationId);

    // Act
    const removed = await dora.request({ action: 'removeMember', conversationId, userId: 'ed' });
    const left = await dora.request({ action: 'leave', conversationId });

    // Assess
    expect(removed).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(left).toMatchObject({ type: 'error', code: 'invalid_request' });
  });
});

describe('nobody is pulled in against their will, and admins stay admins', () => {
  /** The group's id from a createConversation ack. */
  const idOf = (reply: Frame): string => String((reply.conversation as Frame).conversationId);

  it('refuses a user past their conversation cap, whoever adds them, and lets them in again once they leave one', async () => {
    // Prepare: kim is one conversation short of the cap (counted on her profile item).
    const kim = await track(connectAs(runtime(), 'kim'));
    const lou = await track(connectAs(runtime(), 'lou'));
    await runtime().clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: runtime().tables.conversations,
        Key: { conversationId: { S: 'USER#kim' }, sk: { S: 'PROFILE' } },
        UpdateExpression: 'SET conversationCount = :n',
        ExpressionAttributeValues: { ':n': { N: String(LIMITS.maxConversationsPerUser - 1) } },
      }),
    );

    // Act
    const last = await lou.request({ action: 'createConversation', members: ['kim'] });
    const over = await lou.request({ action: 'createConversation', members: ['kim', 'max'] });
    const overByAdd = await lou.request({
      action: 'addMembers',
      conversationId: idOf(await lou.request({ action: 'createConversation', members: ['max'] })),
      members: ['kim'],
    });
    const overHerself = await kim.request({ action: 'createConversation', members: ['max'] });
    await kim.request({ action: 'leave', conversationId: idOf(last) });
    const again = await lou.request({ action: 'createConversation', members: ['kim'] });

    // Assess
    expect(last).toMatchObject({ type: 'ack' });
    expect(over).toMatchObject({ type: 'error', code: 'limit_exceeded', retryable: false });
    expect(String(over.message)).toContain(`kim is in ${LIMITS.maxConversationsPerUser} conversations`);
    expect(overByAdd).toMatchObject({ type: 'error', code: 'limit_exceeded' });
    expect(overHerself).toMatchObject({ type: 'error', code: 'limit_exceeded' });
    expect(String(overHerself.message)).toContain('You are in');
    expect(again).toMatchObject({ type: 'ack' });
    // Nothing of the refused group was written: max is in the two groups lou made with him only.
    const maxList = await (await track(connectAs(runtime(), 'max'))).request({ action: 'listConversations' });
    expect((maxList.conversations as Frame[]).length).toBe(1);
  });

  it('lets a blocked user neither open a direct conversation with the blocker nor add them to a group, until unblocked', async () => {
    // Prepare
    const nia = await track(connectAs(runtime(), 'nia'));
    const oto = await track(connectAs(runtime(), 'oto'));
    await nia.request({ action: 'block', userId: 'oto' });
    const group = idOf(await oto.request({ action: 'createConversation', members: ['pam'] }));

    // Act
    const direct = await oto.request({ action: 'createConversation', direct: true, members: ['nia'] });
    const created = await oto.request({ action: 'createConversation', members: ['nia', 'pam'] });
    const added = await oto.request({ action: 'addMembers', conversationId: group, members: ['nia'] });
    const listed = await nia.request({ action: 'listBlocked' });
    await nia.request({ action: 'unblock', userId: 'oto' });
    const afterUnblock = await oto.request({ action: 'createConversation', direct: true, members: ['nia'] });

    // Assess
    for (const refused of [direct, created, added]) {
      expect(refused).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
      expect(String(refused.message)).not.toMatch(/block/i);
    }
    expect(listed).toMatchObject({ type: 'ack', userIds: ['oto'], whoCanAdd: 'anyone' });
    expect(afterUnblock).toMatchObject({ type: 'ack', conversation: { direct: true } });
    const pamList = await (await track(connectAs(runtime(), 'pam'))).request({ action: 'listConversations' });
    expect((pamList.conversations as Frame[]).map((c) => c.conversationId)).toEqual([group]);
  });

  it('invites a user who lets nobody add them: no history or messages until they accept, and declining tells nobody', async () => {
    // Prepare
    const rae = await track(connectAs(runtime(), 'rae'));
    const sol = await track(connectAs(runtime(), 'sol'));
    await sol.request({ action: 'setWhoCanAdd', whoCanAdd: 'nobody' });

    // Act
    const created = await rae.request({
      action: 'createConversation',
      members: ['sol', 'tom'],
      title: 'Trip',
    });
    const conversationId = idOf(created);
    await sendMessage(rae, conversationId, 'before', 'sol cannot read this yet');
    const historyBefore = await sol.request({ action: 'history', conversationId });
    const invitations = await sol.request({ action: 'listInvitations' });
    const accepted = await sol.request({ action: 'accept', conversationId });
    const historyAfter = await sol.request({ action: 'history', conversationId });
    const declinedGroup = idOf(await rae.request({ action: 'createConversation', members: ['sol'] }));
    const declined = await sol.request({ action: 'decline', conversationId: declinedGroup });
    const acceptDeclined = await sol.request({ action: 'accept', conversationId: declinedGroup });

    // Assess
    expect(created).toMatchObject({
      type: 'ack',
      conversation: { members: ['rae', 'tom'], invited: ['sol'] },
    });
    await expect
      .poll(() => sol.frames.filter((frame) => frame.type === 'invitation'), { timeout: 10_000 })
      .toContainEqual({
        type: 'invitation',
        conversationId,
        invitedBy: 'rae',
        invitedAt: expect.any(String),
        title: 'Trip',
      });
    expect(historyBefore).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(invitations).toMatchObject({
      type: 'ack',
      invitations: [{ conversationId, invitedBy: 'rae', title: 'Trip' }],
    });
    expect(accepted).toMatchObject({ type: 'ack', joined: true, seq: 2 });
    expect(historyAfter.messages).toMatchObject([
      { seq: 1, body: 'sol cannot read this yet' },
      { seq: 2, kind: 'member_added', userIds: ['sol'], by: 'rae' },
    ]);
    expect(declined).toMatchObject({ type: 'ack', declined: true });
    expect(acceptDeclined).toMatchObject({ type: 'ack', joined: false });
    const raeHistory = await rae.request({ action: 'history', conversationId: declinedGroup });
    expect(raeHistory.messages).toEqual([]);
  });

  it("by default invites a user to a stranger's group, a direct conversation making nobody a contact, and adds them once they share a group", async () => {
    // Prepare: nobody has chosen a setting; ada and ben have a direct conversation, nothing more.
    const ada = await track(connectAs(runtime(), 'ada'));
    const ben = await track(connectAs(runtime(), 'ben'));
    await ada.request({ action: 'createConversation', members: ['ben'], direct: true });

    // Act
    const first = await ada.request({ action: 'createConversation', members: ['ben'], title: 'Cold' });
    const accepted = await ben.request({ action: 'accept', conversationId: idOf(first) });
    const second = await ada.request({ action: 'createConversation', members: ['ben', 'cyd'] });

    // Assess: a stranger's group is an invitation until accepted; then they are contacts, and cyd,
    // who shares no group with ada, is still invited.
    expect(LIMITS.defaultWhoCanAdd).toBe('contacts');
    expect(first).toMatchObject({ type: 'ack', conversation: { members: ['ada'], invited: ['ben'] } });
    await expect
      .poll(() => ben.frames.filter((frame) => frame.type === 'invitation'), { timeout: 10_000 })
      .toContainEqual(
        expect.objectContaining({ conversationId: idOf(first), invitedBy: 'ada', title: 'Cold' }),
      );
    expect(accepted).toMatchObject({ type: 'ack', joined: true });
    expect(second).toMatchObject({ type: 'ack', conversation: { invited: ['cyd'] } });
    expect(((second.conversation as Frame).members as string[]).toSorted()).toEqual(['ada', 'ben']);
  });

  it('lets only an admin add back a user an admin removed, and a member an admin promoted do it too', async () => {
    // Prepare
    const uma = await track(connectAs(runtime(), 'uma'));
    const vic = await track(connectAs(runtime(), 'vic'));
    const conversationId = idOf(await uma.request({ action: 'createConversation', members: ['vic', 'wes'] }));
    await uma.request({ action: 'removeMember', conversationId, userId: 'wes' });

    // Act
    const byMember = await vic.request({ action: 'addMembers', conversationId, members: ['wes'] });
    const promoteByMember = await vic.request({ action: 'promote', conversationId, userId: 'vic' });
    const promoted = await uma.request({ action: 'promote', conversationId, userId: 'vic' });
    const byNewAdmin = await vic.request({ action: 'addMembers', conversationId, members: ['wes'] });
    const history = await uma.request({ action: 'history', conversationId });

    // Assess
    expect(byMember).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(String(byMember.message)).toContain('add back wes');
    expect(promoteByMember).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(promoted).toMatchObject({ type: 'ack', promoted: true, seq: 2 });
    expect(byNewAdmin).toMatchObject({ type: 'ack', added: ['wes'], seq: 3 });
    expect(history.messages).toMatchObject([
      { seq: 1, kind: 'member_removed', userIds: ['wes'] },
      { seq: 2, kind: 'member_promoted', userIds: ['vic'], by: 'uma' },
      { seq: 3, kind: 'member_added', userIds: ['wes'], by: 'vic' },
    ]);
  });

  it('promotes the longest-standing member when the last admin leaves, who can then remove members', async () => {
    // Prepare: yul joins first, zoe after her.
    const xan = await track(connectAs(runtime(), 'xan'));
    const yul = await track(connectAs(runtime(), 'yul'));
    const conversationId = idOf(await xan.request({ action: 'createConversation', members: ['yul'] }));
    await xan.request({ action: 'addMembers', conversationId, members: ['zoe'] });

    // Act
    const left = await xan.request({ action: 'leave', conversationId });
    const removed = await yul.request({ action: 'removeMember', conversationId, userId: 'zoe' });
    const history = await yul.request({ action: 'history', conversationId });

    // Assess
    expect(left).toMatchObject({ type: 'ack', removed: true, seq: 2 });
    expect(removed).toMatchObject({ type: 'ack', removed: true, seq: 4 });
    expect(history.messages).toMatchObject([
      { seq: 1, kind: 'member_added', userIds: ['zoe'] },
      { seq: 2, kind: 'member_left', userIds: ['xan'] },
      { seq: 3, kind: 'member_promoted', userIds: ['yul'], by: 'xan' },
      { seq: 4, kind: 'member_removed', userIds: ['zoe'], by: 'yul' },
    ]);
  });
});

describe('read receipts through the local runtime', () => {
  it("tells the other subscribers when a member's read cursor moves, and only when it moves", async () => {
    // Prepare
    const fay = await track(connectAs(runtime(), 'fay'));
    const gus = await track(connectAs(runtime(), 'gus'));
    const conversationId = await createConversation(fay, ['gus']);
    await fay.request({ action: 'subscribe', conversationId });
    await gus.request({ action: 'subscribe', conversationId });
    await sendMessage(fay, conversationId, 'r1', 'read me');

    // Act
    const read = await gus.request({ action: 'read', conversationId, seq: 1 });
    const again = await gus.request({ action: 'read', conversationId, seq: 1 });
    await drain(fay);

    // Assess
    expect(read).toMatchObject({ type: 'ack', readSeq: 1, moved: true });
    expect(again).toMatchObject({ type: 'ack', readSeq: 1, moved: false });
    expect(pushed(fay, 'read')).toEqual([{ type: 'read', conversationId, userId: 'gus', seq: 1 }]);
    expect(pushed(gus, 'read')).toEqual([]);
  });
});
