/** A room's admins moderate it: they delete others' messages there, at one request more (their role). */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { memberSk } from '../../shared/tables';
import {
  awsCalls,
  conditionFailed,
  ddbMock,
  expectNothingEnqueued,
  invoke,
  NOW,
  SENT_AT,
  sqsMock,
  storedItem,
  TABLE_NAMES,
  useEditFunctionMocks,
} from './fakes/edit-function';

useEditFunctionMocks();

const ROOM = 'room_r1';

/** Alice's message at seq 7: a delete conditioned on another sender fails, returning the message. */
function givenAlicesMessage(conversationId: string): void {
  ddbMock
    .on(UpdateCommand, { TableName: TABLE_NAMES.messages })
    .callsFake(({ ExpressionAttributeValues }) => {
      if (ExpressionAttributeValues?.[':sender'] !== 'alice')
        throw conditionFailed(storedItem({ conversationId }));
      return { Attributes: { conversationId, seq: 7, senderId: 'alice', body: 'hello', sentAt: SENT_AT } };
    });
}

/** Bob's member item in `conversationId` has `role`. */
function givenBobIs(role: 'admin' | 'member', conversationId = ROOM): void {
  ddbMock
    .on(GetCommand, { TableName: TABLE_NAMES.conversations, Key: { conversationId, sk: memberSk('bob') } })
    .resolves({ Item: { role } });
}

describe("delete of another member's message", () => {
  beforeEach(() => {
    givenAlicesMessage(ROOM);
  });

  it("lets a room's admin delete it, reading their role once, and fans the deletion out", async () => {
    // Prepare
    givenBobIs('admin');

    // Act
    const reply = await invoke({ action: 'delete', conversationId: ROOM }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'ack', conversationId: ROOM, seq: 7, version: 1, duplicate: false });
    expect(awsCalls()).toEqual([
      'UpdateCommand',
      'UpdateCommand',
      'GetCommand',
      'UpdateCommand',
      'SendMessageCommand',
    ]);
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      Key: { conversationId: ROOM, sk: memberSk('bob') },
      ConsistentRead: true,
    });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE_NAMES.messages,
      ExpressionAttributeValues: { ':sender': 'alice', ':true': true, ':at': NOW.toISOString(), ':one': 1 },
    });
    expect(sqsMock).toHaveReceivedCommandTimes(SendMessageCommand, 1);
  });

  it("refuses a room's plain member, forbidden, and deletes nothing", async () => {
    // Prepare
    givenBobIs('member');

    // Act
    const reply = await invoke({ action: 'delete', conversationId: ROOM }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 2);
    expectNothingEnqueued();
  });

  it('refuses in a group, where only the sender deletes, without reading any role', async () => {
    // Prepare
    givenAlicesMessage('c1');
    givenBobIs('admin', 'c1');

    // Act
    const reply = await invoke({ action: 'delete' }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(ddbMock).not.toHaveReceivedCommand(GetCommand);
    expectNothingEnqueued();
  });

  it("lets an admin's repeated delete of an already deleted message be acked as a duplicate", async () => {
    // Prepare: the message is deleted already, whoever asks.
    givenBobIs('admin');
    ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.messages }).rejects(
      conditionFailed(
        storedItem({
          conversationId: ROOM,
          body: undefined,
          deleted: true,
          deletedAt: SENT_AT,
          version: 1,
        }),
      ),
    );

    // Act
    const reply = await invoke({ action: 'delete', conversationId: ROOM }, 'bob');

    // Assess
    expect(reply).toMatchObject({ type: 'ack', seq: 7, version: 1, deletedAt: SENT_AT, duplicate: true });
  });
});
