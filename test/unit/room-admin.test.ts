/**
 * A room's admin routes: lifting a ban (`unbanMember`), the list of bans (`listBanned`) and a link room's
 * new invite code (`newInviteCode`): the requests each makes, who may, and what bad input is answered.
 */
import { DeleteCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
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
  tables,
  useRoomFunctionMocks,
} from './fakes/rooms-function';

useRoomFunctionMocks();

/** What a refusal answered before any write leaves: no transaction, no update. */
function expectNothingWritten(): void {
  expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
  expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
}

describe('unbanMember', () => {
  it("lifts an admin's ban in one transaction that checks the caller is still an admin", async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin' });

    // Act
    const reply = await call({ action: 'unbanMember', conversationId: ROOM, userId: 'eve' });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'unbanMember',
      conversationId: ROOM,
      userId: 'eve',
      unbanned: true,
    });
    const [admin, ban] = lastTransaction();
    expect(lastTransaction()).toHaveLength(2);
    expect(admin?.ConditionCheck?.Key).toEqual({ conversationId: ROOM, sk: memberSk('alice') });
    expect(ban?.Delete).toMatchObject({
      TableName: tables.conversations,
      Key: { conversationId: ROOM, sk: 'REMOVED#eve' },
      ConditionExpression: '#kind = :removed',
      ExpressionAttributeValues: { ':removed': 'member_removed' },
    });
  });

  it('answers unbanned: false for a user who was not banned', async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin' });
    ddbMock.on(TransactWriteCommand).rejects(cancelled(ok, failed()));

    // Act
    const reply = await call({ action: 'unbanMember', conversationId: ROOM, userId: 'eve' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', userId: 'eve', unbanned: false });
  });

  it('refuses a member who is no admin, and a stranger, forbidden, writing nothing', async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin', bob: 'member' });

    // Act
    const member = await call({ action: 'unbanMember', conversationId: ROOM, userId: 'eve' }, 'bob');
    const stranger = await call({ action: 'unbanMember', conversationId: ROOM, userId: 'eve' }, 'mallory');

    // Assess
    expect(member).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: expect.stringContaining('may lift bans'),
    });
    expect(stranger).toMatchObject({ type: 'error', code: 'forbidden' });
    expectNothingWritten();
  });

  it('refuses an admin demoted meanwhile, forbidden', async () => {
    // Prepare: the read found alice an admin; the transaction's check does not.
    givenRoom(roomMeta(), { alice: 'admin' });
    ddbMock.on(TransactWriteCommand).rejects(cancelled(failed(), ok));

    // Act
    const reply = await call({ action: 'unbanMember', conversationId: ROOM, userId: 'eve' });

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
  });

  it('refuses a missing or malformed user id, invalid_request, before any request', async () => {
    // Act
    const missing = await call({ action: 'unbanMember', conversationId: ROOM });
    const malformed = await call({ action: 'unbanMember', conversationId: ROOM, userId: 'e#ve' });

    // Assess
    expect(missing).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(malformed).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('tells a member of a group that it is no room', async () => {
    // Prepare
    givenRoom({ conversationId: ROOM, sk: META_SK, createdBy: 'alice' }, { alice: 'admin' });

    // Act
    const reply = await call({ action: 'unbanMember', conversationId: ROOM, userId: 'eve' });

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'invalid_request',
      message: expect.stringContaining('not a room'),
    });
    expectNothingWritten();
  });
});

describe('a ban (removeMember in a room)', () => {
  it("tells the banned user's connections at once, a member_removed push at seq 0, with no request more", async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin', bob: 'member' });
    ddbMock
      .on(QueryCommand, { TableName: tables.connections })
      .resolves({ Items: [{ connectionId: 'bob-1' }, { connectionId: 'bob-2' }] });
    ddbMock.on(DeleteCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const reply = await call({ action: 'removeMember', conversationId: ROOM, userId: 'bob' });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', removed: true });
    const told = {
      type: 'membership',
      conversationId: ROOM,
      seq: 0,
      event: 'member_removed',
      userIds: ['bob'],
      by: 'alice',
      at: NOW.toISOString(),
    };
    expect(post.mock.calls.map(([connectionId, data]) => [connectionId, JSON.parse(data)])).toEqual([
      ['bob-1', told],
      ['bob-2', told],
    ]);
    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(1);
  });
});

describe('listBanned', () => {
  it("pages through the room's ban records in user id order with one consistent Query each", async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin' });
    ddbMock.on(QueryCommand).resolves({
      Items: [
        { sk: 'REMOVED#carol', by: 'alice', claimedAt: NOW.getTime() },
        { sk: 'REMOVED#dave', by: 'bob', claimedAt: NOW.getTime() - 60_000 },
      ],
      LastEvaluatedKey: { conversationId: ROOM, sk: 'REMOVED#dave' },
    });

    // Act
    const reply = await call({ action: 'listBanned', conversationId: ROOM, limit: 2, cursor: 'bob' });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'listBanned',
      conversationId: ROOM,
      banned: [
        { userId: 'carol', by: 'alice', bannedAt: NOW.toISOString() },
        { userId: 'dave', by: 'bob', bannedAt: new Date(NOW.getTime() - 60_000).toISOString() },
      ],
      hasMore: true,
      nextCursor: 'dave',
    });
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: tables.conversations,
      KeyConditionExpression: 'conversationId = :c AND begins_with(sk, :removed)',
      ExpressionAttributeValues: { ':c': ROOM, ':removed': 'REMOVED#' },
      ConsistentRead: true,
      Limit: 2,
      ExclusiveStartKey: { conversationId: ROOM, sk: 'REMOVED#bob' },
    });
  });

  it('reads a page of the largest size when no limit is asked, and says when it is the last', async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin' });
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    const reply = await call({ action: 'listBanned', conversationId: ROOM });

    // Assess
    expect(reply).toEqual({
      type: 'ack',
      action: 'listBanned',
      conversationId: ROOM,
      banned: [],
      hasMore: false,
    });
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, { Limit: LIMITS.maxPageSize });
  });

  it('refuses a member who is no admin, forbidden, reading no ban', async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin', bob: 'member' });

    // Act
    const reply = await call({ action: 'listBanned', conversationId: ROOM }, 'bob');

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: expect.stringContaining('banned'),
    });
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
  });

  it('refuses a limit past the page size or a malformed cursor, invalid_request, before any request', async () => {
    // Act
    const tooMany = await call({ action: 'listBanned', conversationId: ROOM, limit: LIMITS.maxPageSize + 1 });
    const cursor = await call({ action: 'listBanned', conversationId: ROOM, cursor: '' });

    // Assess
    expect(tooMany).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(cursor).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe('newInviteCode', () => {
  it("replaces a link room's code on META, answering the new one to the admin", async () => {
    // Prepare
    givenRoom(roomMeta({ access: 'link', inviteCode: CODE }), { alice: 'admin' });
    ddbMock.on(UpdateCommand).callsFake(({ ExpressionAttributeValues }) => ({
      Attributes: roomMeta({ access: 'link', inviteCode: ExpressionAttributeValues[':code'] }),
    }));

    // Act
    const reply = await call({ action: 'newInviteCode', conversationId: ROOM });

    // Assess
    const update = ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input;
    const code = update?.ExpressionAttributeValues?.[':code'];
    expect(code).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(code).not.toBe(CODE);
    expect(update).toMatchObject({
      Key: { conversationId: ROOM, sk: META_SK },
      UpdateExpression: 'SET inviteCode = :code',
      ConditionExpression: '#access = :link',
    });
    expect(reply).toMatchObject({
      type: 'ack',
      action: 'newInviteCode',
      room: { conversationId: ROOM, access: 'link', inviteCode: code, role: 'admin', memberCount: 2 },
    });
  });

  it('refuses a public room, which has no code, invalid_request, writing nothing', async () => {
    // Prepare
    givenRoom(roomMeta(), { alice: 'admin' });

    // Act
    const reply = await call({ action: 'newInviteCode', conversationId: ROOM });

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'invalid_request',
      message: expect.stringContaining('is public'),
    });
    expectNothingWritten();
  });

  it('refuses a member who is no admin, forbidden, writing nothing', async () => {
    // Prepare
    givenRoom(roomMeta({ access: 'link', inviteCode: CODE }), { alice: 'admin', bob: 'member' });

    // Act
    const reply = await call({ action: 'newInviteCode', conversationId: ROOM }, 'bob');

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: expect.stringContaining('change its link'),
    });
    expectNothingWritten();
  });
});
