/** The room routes: create, join (public, by link), slow mode, room info, leave, and what rooms refuse. */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import {
  DeleteCommand,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import { SHARDS_MARKER } from '../../shared/store/connections';
import { META_SK, memberSk } from '../../shared/tables';
import {
  CODE,
  call,
  cancelled,
  ddbMock,
  failed,
  givenRoom,
  lastTransaction,
  NOW,
  ok,
  post,
  ROOM,
  roomMeta,
  sqsMock,
  tables,
  useRoomFunctionMocks,
} from './fakes/rooms-function';

useRoomFunctionMocks();

describe('createRoom', () => {
  it("writes the creator's member item as admin, their conversation slot and a room's META in one transaction", async () => {
    // Act
    const reply = await call({ action: 'createRoom', title: 'Launch', access: 'public' });

    // Assess
    expect(reply).toMatchObject({
      type: 'ack',
      room: {
        conversationId: 'room_new',
        kind: 'room',
        title: 'Launch',
        access: 'public',
        slowModeSeconds: 0,
        memberCount: 1,
        createdBy: 'alice',
        role: 'admin',
      },
    });
    expect((reply.room as Record<string, unknown>).inviteCode).toBeUndefined();
    const [member, slot, meta] = lastTransaction();
    expect(member?.Put?.Item).toMatchObject({ sk: memberSk('alice'), role: 'admin', counted: true });
    expect(slot?.Update?.UpdateExpression).toBe('ADD conversationCount :one');
    expect(meta?.Put?.Item).toEqual({
      conversationId: 'room_new',
      sk: META_SK,
      kind: 'room',
      title: 'Launch',
      access: 'public',
      slowModeSeconds: 0,
      tickMs: 0,
      createdBy: 'alice',
      createdAt: NOW.toISOString(),
      lastSeq: 0,
      memberCount: 1,
    });
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('gives a link room an unguessable invite code, stored on META and answered to its creator', async () => {
    // Act
    const reply = await call({ action: 'createRoom', title: 'Staff', access: 'link', slowModeSeconds: 10 });

    // Assess
    const room = reply.room as Record<string, unknown>;
    expect(room).toMatchObject({ access: 'link', slowModeSeconds: 10 });
    expect(room.inviteCode).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(lastTransaction()[2]?.Put?.Item).toMatchObject({ inviteCode: room.inviteCode });
  });

  it('refuses a creator in as many conversations as a user may be, limit_exceeded', async () => {
    // Prepare
    ddbMock
      .on(TransactWriteCommand)
      .rejects(cancelled(ok, failed({ conversationCount: LIMITS.maxConversationsPerUser }), ok));

    // Act
    const reply = await call({ action: 'createRoom', title: 'Launch', access: 'public' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'limit_exceeded' });
  });

  it('refuses a room without a title, a slow mode past the limit or an unknown access, writing nothing', async () => {
    // Act
    const replies = await Promise.all([
      call({ action: 'createRoom', access: 'public' }),
      call({
        action: 'createRoom',
        title: 'x',
        access: 'public',
        slowModeSeconds: LIMITS.maxSlowModeSeconds + 1,
      }),
      call({ action: 'createRoom', title: 'x', access: 'secret' }),
    ]);

    // Assess
    for (const reply of replies) expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe('joinRoom', () => {
  it('adds one to the member count, puts the member item and takes a slot, and records nothing in the seq order', async () => {
    // Prepare
    givenRoom(roomMeta({ memberCount: LIMITS.maxGroupSize + 1 }), { bob: 'member' });

    // Act
    const reply = await call({ action: 'joinRoom', conversationId: ROOM }, 'bob');

    // Assess
    expect(reply).toMatchObject({
      type: 'ack',
      joined: true,
      room: { conversationId: ROOM, kind: 'room', memberCount: LIMITS.maxGroupSize + 1, role: 'member' },
    });
    const [meta, member, slot] = lastTransaction();
    expect(meta?.Update).toMatchObject({
      Key: { conversationId: ROOM, sk: META_SK },
      UpdateExpression: 'ADD memberCount :one',
      // No cap on members: a room is no group.
      ConditionExpression: '#kind = :room AND (#access = :public OR inviteCode = :code)',
    });
    expect(member?.Put?.Item).toMatchObject({ sk: memberSk('bob'), memberId: 'bob', role: 'member' });
    expect(slot?.Update?.Key).toEqual({ conversationId: 'USER#bob', sk: 'PROFILE' });
    expect(lastTransaction()[3]?.ConditionCheck?.Key).toEqual({ conversationId: ROOM, sk: 'REMOVED#bob' });
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
    expect(post).not.toHaveBeenCalled();
  });

  it('answers joined: false to a member joining again', async () => {
    // Prepare
    givenRoom(roomMeta(), { bob: 'member' });
    ddbMock.on(TransactWriteCommand).rejects(cancelled(ok, failed(), ok, ok));

    // Act
    const reply = await call({ action: 'joinRoom', conversationId: ROOM }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'ack', joined: false, room: { role: 'member' } });
  });

  it('refuses a link room without its code, or with a wrong one, forbidden and in words', async () => {
    // Prepare
    ddbMock
      .on(TransactWriteCommand)
      .rejects(cancelled(failed(roomMeta({ access: 'link', inviteCode: CODE })), ok, ok, ok));

    // Act
    const withoutCode = await call({ action: 'joinRoom', conversationId: ROOM }, 'bob');
    const wrongCode = await call(
      { action: 'joinRoom', conversationId: ROOM, code: 'not-the-code-at-all' },
      'bob',
    );

    // Assess
    expect(withoutCode).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: `Room ${ROOM} is joined by invitation link only: ask an admin for its link`,
    });
    expect(wrongCode).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: `That invite code does not open room ${ROOM}; ask an admin for its link`,
    });
    expect(lastTransaction()[0]?.Update?.ExpressionAttributeValues).toMatchObject({
      ':code': 'not-the-code-at-all',
    });
  });

  it('refuses an id that names no room (a group, or nothing) as it refuses non-members', async () => {
    // Prepare
    ddbMock
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(failed({ conversationId: 'conv-1', sk: META_SK, lastSeq: 0 }), ok, ok, ok))
      .rejectsOnce(cancelled(failed(), ok, ok, ok));

    // Act
    const group = await call({ action: 'joinRoom', conversationId: 'conv-1' }, 'bob');
    const nothing = await call({ action: 'joinRoom', conversationId: 'room_none' }, 'bob');

    // Assess
    expect(group).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: expect.stringContaining('not a member'),
    });
    expect(nothing).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: expect.stringContaining('not a member'),
    });
  });

  it('refuses a user an admin removed, forbidden', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(cancelled(ok, ok, ok, failed({ kind: 'member_removed' })));

    // Act
    const reply = await call({ action: 'joinRoom', conversationId: ROOM }, 'bob');

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: `An admin removed you from room ${ROOM}`,
    });
  });

  it('refuses a user in as many conversations as a user may be, limit_exceeded', async () => {
    // Prepare
    ddbMock
      .on(TransactWriteCommand)
      .rejects(cancelled(ok, ok, failed({ conversationCount: LIMITS.maxConversationsPerUser }), ok));

    // Act
    const reply = await call({ action: 'joinRoom', conversationId: ROOM }, 'bob');

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'limit_exceeded',
      message: expect.stringContaining(`You are in ${LIMITS.maxConversationsPerUser} conversations`),
    });
  });
});

describe('setSlowMode', () => {
  it("lets an admin set it on the room's META", async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin' });
    ddbMock.on(UpdateCommand).resolves({ Attributes: roomMeta({ slowModeSeconds: 30 }) });

    // Act
    const reply = await call({ action: 'setSlowMode', conversationId: ROOM, slowModeSeconds: 30 });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', room: { slowModeSeconds: 30, role: 'admin' } });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { conversationId: ROOM, sk: META_SK },
      UpdateExpression: 'SET slowModeSeconds = :seconds',
      ExpressionAttributeValues: { ':seconds': 30 },
    });
  });

  it('refuses a plain member, forbidden, and a non-member as a non-member, writing nothing', async () => {
    // Prepare
    givenRoom(roomMeta(), { bob: 'member' });

    // Act
    const member = await call({ action: 'setSlowMode', conversationId: ROOM, slowModeSeconds: 30 }, 'bob');
    const stranger = await call({ action: 'setSlowMode', conversationId: ROOM, slowModeSeconds: 30 }, 'eve');

    // Assess
    expect(member).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: expect.stringContaining('set its slow mode'),
    });
    expect(stranger).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: expect.stringContaining('not a member'),
    });
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  });
});

describe('the room tick', () => {
  /** The marker write of a transaction: the room's tick on its subscriptions partition. */
  const markerWrite = (tickMs: number) => ({
    Update: {
      TableName: tables.subscriptions,
      Key: { conversationId: expect.any(String), connectionId: SHARDS_MARKER },
      UpdateExpression: 'SET tickMs = :tick',
      ExpressionAttributeValues: { ':tick': tickMs },
    },
  });

  it('creates a room with a tick on its META and on the marker the fan-out reads, in the same transaction', async () => {
    // Act
    const reply = await call({ action: 'createRoom', title: 'Launch', access: 'public', tickMs: 250 });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', room: { tickMs: 250 } });
    const items = lastTransaction();
    expect(items).toHaveLength(4);
    expect(items[2]?.Put?.Item).toMatchObject({ tickMs: 250 });
    expect(items[3]).toEqual(markerWrite(250));
  });

  it('writes no marker for a room without a tick', async () => {
    // Act
    await call({ action: 'createRoom', title: 'Launch', access: 'public' });

    // Assess
    expect(lastTransaction()).toHaveLength(3);
  });

  it('lets an admin set it on META and the marker at once, checking they are still an admin', async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin' });

    // Act
    const reply = await call({ action: 'setTick', conversationId: ROOM, tickMs: 500 });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', room: { tickMs: 500, slowModeSeconds: 0, role: 'admin' } });
    const [check, meta, marker] = lastTransaction();
    expect(check?.ConditionCheck?.Key).toEqual({ conversationId: ROOM, sk: memberSk('alice') });
    expect(meta?.Update).toMatchObject({
      Key: { conversationId: ROOM, sk: META_SK },
      UpdateExpression: 'SET tickMs = :tick',
      ExpressionAttributeValues: { ':tick': 500 },
    });
    expect(marker).toEqual(markerWrite(500));
  });

  it('refuses a plain member, forbidden, and a caller demoted meanwhile, writing nothing', async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin', bob: 'member' });

    // Act
    const member = await call({ action: 'setTick', conversationId: ROOM, tickMs: 500 }, 'bob');
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
    ddbMock.on(TransactWriteCommand).rejects(cancelled(failed(), ok, ok));
    const demoted = await call({ action: 'setTick', conversationId: ROOM, tickMs: 500 });

    // Assess
    for (const reply of [member, demoted]) {
      expect(reply).toMatchObject({
        type: 'error',
        code: 'forbidden',
        message: expect.stringContaining('set its tick'),
      });
    }
  });

  it.each([[-1], [2_001], [12.5], ['250']])(
    'refuses a tick of %j as invalid_request, before any request',
    async (tickMs) => {
      // Act
      const set = await call({ action: 'setTick', conversationId: ROOM, tickMs });
      const created = await call({ action: 'createRoom', title: 'Launch', access: 'public', tickMs });

      // Assess
      for (const reply of [set, created]) {
        expect(reply).toMatchObject({
          type: 'error',
          code: 'invalid_request',
          message: expect.stringContaining('tickMs'),
        });
      }
      expect(ddbMock.calls()).toHaveLength(0);
    },
  );
});

describe('roomInfo', () => {
  it('tells anyone about a public room, and its admins alone the invite code of a link room', async () => {
    // Prepare
    givenRoom(roomMeta({ access: 'link', inviteCode: CODE }), { alice: 'admin', bob: 'member' });

    // Act
    const admin = await call({ action: 'roomInfo', conversationId: ROOM });
    const member = await call({ action: 'roomInfo', conversationId: ROOM }, 'bob');
    const stranger = await call({ action: 'roomInfo', conversationId: ROOM }, 'eve');
    givenRoom(roomMeta());
    const publicStranger = await call({ action: 'roomInfo', conversationId: ROOM }, 'eve');

    // Assess
    expect(admin).toMatchObject({ room: { inviteCode: CODE, role: 'admin', memberCount: 2 } });
    expect(member).toMatchObject({ room: { role: 'member' } });
    expect((member.room as Record<string, unknown>).inviteCode).toBeUndefined();
    expect(stranger).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(publicStranger).toMatchObject({ type: 'ack', room: { access: 'public', memberCount: 2 } });
    expect((publicStranger.room as Record<string, unknown>).role).toBeUndefined();
  });
});

describe('a room action on a conversation that is no room', () => {
  it('tells a member of a group that it is no room, and a stranger only that they are no member', async () => {
    // Prepare: alice is a member of group conv-1.
    givenRoom({ conversationId: 'conv-1', sk: META_SK, lastSeq: 0, createdBy: 'alice' }, { alice: 'admin' });

    // Act
    const member = await call({ action: 'roomInfo', conversationId: 'conv-1' });
    const stranger = await call(
      { action: 'setSlowMode', conversationId: 'conv-1', slowModeSeconds: 5 },
      'eve',
    );

    // Assess
    expect(member).toMatchObject({
      type: 'error',
      code: 'invalid_request',
      message: expect.stringContaining('not a room'),
    });
    expect(stranger).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  });
});

describe('leave and removal in a room', () => {
  it('deletes the member item, takes one off the count, gives the slot back and ends the subscriptions, with no seq', async () => {
    // Prepare: bob has this connection and another.
    ddbMock.on(QueryCommand, { TableName: tables.connections }).resolves({
      Items: [{ connectionId: 'bob-1' }, { connectionId: 'bob-2' }],
    });
    ddbMock.on(DeleteCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const reply = await call({ action: 'leave', conversationId: ROOM }, 'bob');

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'leave',
      conversationId: ROOM,
      userId: 'bob',
      removed: true,
    });
    const [member, meta, slot] = lastTransaction();
    expect(member?.Delete?.Key).toEqual({ conversationId: ROOM, sk: memberSk('bob') });
    expect(meta?.Update?.UpdateExpression).toBe('ADD memberCount :minusOne');
    expect(slot?.Update?.UpdateExpression).toBe('ADD conversationCount :minusOne');
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: tables.subscriptions,
      Key: { conversationId: ROOM, connectionId: 'bob-1' },
    });
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: tables.subscriptions,
      Key: { conversationId: ROOM, connectionId: 'bob-2' },
    });
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('lets an admin remove a member for good: their item, the count, their slot, the removal record, and their subscriptions', async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin', bob: 'member' });
    ddbMock
      .on(QueryCommand, { TableName: tables.connections })
      .resolves({ Items: [{ connectionId: 'bob-1' }] });
    ddbMock.on(DeleteCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const reply = await call({ action: 'removeMember', conversationId: ROOM, userId: 'bob' });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'removeMember',
      conversationId: ROOM,
      userId: 'bob',
      removed: true,
    });
    const [admin, record, member, meta, slot] = lastTransaction();
    expect(admin?.ConditionCheck?.Key).toEqual({ conversationId: ROOM, sk: memberSk('alice') });
    expect(record?.Put?.Item).toMatchObject({ sk: 'REMOVED#bob', kind: 'member_removed', by: 'alice' });
    expect(member?.Delete?.Key).toEqual({ conversationId: ROOM, sk: memberSk('bob') });
    expect(meta?.Update?.UpdateExpression).toBe('ADD memberCount :minusOne');
    expect(slot?.Update?.Key).toEqual({ conversationId: 'USER#bob', sk: 'PROFILE' });
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: tables.subscriptions,
      Key: { conversationId: ROOM, connectionId: 'bob-1' },
    });
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('writes the removal record alone for one who is no member, so they cannot join', async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin' });
    ddbMock
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(ok, ok, failed(), ok, ok))
      .resolves({});
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    const reply = await call({ action: 'removeMember', conversationId: ROOM, userId: 'eve' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', userId: 'eve', removed: false });
    expect(lastTransaction()).toHaveLength(2);
    expect(lastTransaction()[1]?.Put?.Item).toMatchObject({ sk: 'REMOVED#eve', kind: 'member_removed' });
  });

  it('refuses a member who is no admin, forbidden, writing nothing', async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin', bob: 'member' });

    // Act
    const reply = await call({ action: 'removeMember', conversationId: ROOM, userId: 'alice' }, 'bob');

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: expect.stringContaining('remove members'),
    });
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('refuses an admin demoted meanwhile, forbidden', async () => {
    // Prepare: the read found alice an admin; the transaction's check does not.
    givenRoom(roomMeta(), { alice: 'admin', bob: 'member' });
    ddbMock.on(TransactWriteCommand).rejects(cancelled(failed(), ok, ok, ok, ok));

    // Act
    const reply = await call({ action: 'removeMember', conversationId: ROOM, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
  });

  it('answers removed: false to one who is no member', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(cancelled(failed(), ok, ok));
    ddbMock.on(QueryCommand).resolves({ Items: [] });
    ddbMock.on(DeleteCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const reply = await call({ action: 'removeMember', conversationId: ROOM, userId: 'bob' }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: false });
  });
});

describe('what a room refuses or keeps quiet', () => {
  it('refuses addMembers before any request', async () => {
    // Act
    const add = await call({ action: 'addMembers', conversationId: ROOM, members: ['bob'] });

    // Assess
    expect(add).toMatchObject({
      type: 'error',
      code: 'invalid_request',
      message: expect.stringContaining('join it'),
    });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('answers typing with throttled and presence with the caller alone, posting nothing and listing nobody', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: { conversationId: ROOM } });

    // Act
    const typing = await call({ action: 'typing', conversationId: ROOM });
    const presence = await call({ action: 'presence', conversationId: ROOM });

    // Assess
    expect(typing).toMatchObject({ type: 'ack', throttled: true });
    expect(presence).toMatchObject({ type: 'ack', online: ['alice'] });
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
    expect(ddbMock).toHaveReceivedCommandTimes(GetCommand, 2);
    expect(post).not.toHaveBeenCalled();
  });

  it("answers a room's subscribe with its member count, announcing nobody's arrival", async () => {
    // Prepare: carol listens already, and would hear alice arrive in a group.
    ddbMock.on(GetCommand).resolves({ Item: { conversationId: ROOM, lastSeq: 3, memberCount: 250 } });
    ddbMock
      .on(QueryCommand)
      .resolves({ Items: [{ conversationId: ROOM, connectionId: 'carol-1', userId: 'carol' }] });
    ddbMock.on(UpdateCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const reply = await call({ action: 'subscribe', conversationId: ROOM });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', conversationId: ROOM, lastSeq: 3, memberCount: 250 });
    expect(post).not.toHaveBeenCalled();
  });
});

describe('listConversations', () => {
  it("lists a room with kind: 'room' and its member count", async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [{ conversationId: ROOM, readSeq: 1 }] });
    givenRoom(roomMeta({ memberCount: 1_234 }));

    // Act
    const reply = await call({ action: 'listConversations' }, 'bob');

    // Assess
    expect(reply).toMatchObject({
      type: 'ack',
      conversations: [{ conversationId: ROOM, kind: 'room', title: 'Launch', memberCount: 1_234, unread: 2 }],
    });
  });
});
