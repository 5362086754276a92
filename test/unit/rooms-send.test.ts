/** Sending in a room: its slow mode, and what a room adds to a send (one request, two in slow mode). */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { createSendHandler } from '../../lambdas/send/routes';
import { META_SK, memberSk } from '../../shared/tables';
import {
  awsCalls,
  CLAIM_TOKEN,
  conditionFailed,
  ddbMock,
  makeDeps,
  NOW,
  rawFrame,
  replyOf,
  sendEvent,
  sqsMock,
  TABLE_NAMES,
  useSendFunctionMocks,
} from './fakes/send-function';

useSendFunctionMocks();

const ROOM = 'room_r1';
const ROOM_META = { TableName: TABLE_NAMES.conversations, Key: { conversationId: ROOM, sk: META_SK } };
const ALICE_IN_ROOM = {
  TableName: TABLE_NAMES.conversations,
  Key: { conversationId: ROOM, sk: memberSk('alice') },
};

/** The room's META answers `slowModeSeconds`, and its counter reserves seq 8. */
function givenRoom(slowModeSeconds: number): void {
  ddbMock.on(GetCommand, ROOM_META).resolves({ Item: { slowModeSeconds } });
  ddbMock.on(UpdateCommand, ROOM_META).resolves({ Attributes: { lastSeq: 8 } });
}

const send = async (fields: Record<string, unknown> = {}) =>
  replyOf(await createSendHandler(makeDeps())(sendEvent(rawFrame({ conversationId: ROOM, ...fields }))));

/** How many calls of each kind were made: the member update and the slow-mode read run at once. */
function callCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of awsCalls()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

/** The calls of one send into group c1, whatever the send path makes them: what a room adds to. */
async function groupSendCalls(): Promise<Record<string, number>> {
  replyOf(await createSendHandler(makeDeps())(sendEvent(rawFrame({ clientMessageId: 'g-1' }))));
  const counts = callCounts();
  ddbMock.resetHistory();
  sqsMock.resetHistory();
  return counts;
}

/** `counts` with `extra` calls added. */
const plus = (counts: Record<string, number>, extra: Record<string, number>): Record<string, number> =>
  Object.fromEntries(
    [...new Set([...Object.keys(counts), ...Object.keys(extra)])].map((name) => [
      name,
      (counts[name] ?? 0) + (extra[name] ?? 0),
    ]),
  );

describe('send in a room', () => {
  beforeEach(() => {
    ddbMock.on(DeleteCommand).resolves({});
  });

  it('reads the slow mode with the membership check: one request more than any other send when slow mode is off', async () => {
    // Prepare
    givenRoom(0);
    const group = await groupSendCalls();

    // Act
    const reply = await send();

    // Assess
    expect(reply).toMatchObject({ type: 'ack', conversationId: ROOM, seq: 8 });
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, { ...ROOM_META, ConsistentRead: true });
    expect(callCounts()).toEqual(plus(group, { GetCommand: 1 }));
  });

  it("takes the member's turn with a conditional update in slow mode: two requests more", async () => {
    // Prepare
    givenRoom(30);
    const group = await groupSendCalls();

    // Act
    const reply = await send();

    // Assess
    expect(reply).toMatchObject({ type: 'ack', seq: 8 });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      ...ALICE_IN_ROOM,
      UpdateExpression: 'SET slowPostAt = :now, slowPostId = :id',
      ConditionExpression:
        'attribute_exists(conversationId) AND (attribute_not_exists(slowPostAt) OR slowPostAt <= :cutoff OR slowPostId = :id)',
      ExpressionAttributeValues: { ':now': NOW.getTime(), ':cutoff': NOW.getTime() - 30_000, ':id': 'm-1' },
    });
    expect(callCounts()).toEqual(plus(group, { GetCommand: 1, UpdateCommand: 1 }));
  });

  it('refuses a second message inside the slow mode with rate_limited and the wait, and writes nothing', async () => {
    // Prepare: alice posted another message 10 s ago.
    givenRoom(30);
    ddbMock
      .on(UpdateCommand, { ...ALICE_IN_ROOM, UpdateExpression: 'SET slowPostAt = :now, slowPostId = :id' })
      .rejects(
        conditionFailed(
          marshall({
            conversationId: ROOM,
            sk: memberSk('alice'),
            slowPostAt: NOW.getTime() - 10_000,
            slowPostId: 'm-0',
          }),
        ),
      );

    // Act
    const reply = await send();

    // Assess
    expect(reply).toMatchObject({
      type: 'error',
      code: 'rate_limited',
      retryable: true,
      retryAfterMs: 20_000,
      message: expect.stringContaining('Slow mode: each member may post one message every 30 s in this room'),
    });
    expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, ROOM_META);
    expect(ddbMock).not.toHaveReceivedCommandWith(PutCommand, { TableName: TABLE_NAMES.messages });
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: TABLE_NAMES.idempotency,
      Key: { idempotencyKey: `${ROOM}#alice#m-1` },
      ExpressionAttributeValues: { ':token': CLAIM_TOKEN },
    });
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it("tells the room's viewer count in the ack and the queued record, read by the counter update itself: no request more", async () => {
    // Prepare
    givenRoom(0);
    ddbMock
      .on(UpdateCommand, ROOM_META)
      .resolves({ Attributes: { ...ROOM_META.Key, kind: 'room', lastSeq: 8, memberCount: 1234 } });
    const group = await groupSendCalls();

    // Act
    const reply = await send();

    // Assess: the counter update answers META whole (no read unit), so the calls are those of any room send.
    expect(reply).toMatchObject({ type: 'ack', seq: 8, viewers: 1234 });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      ...ROOM_META,
      UpdateExpression: 'SET lastReservedAt = :at ADD lastSeq :one',
      ReturnValues: 'ALL_NEW',
    });
    expect(callCounts()).toEqual(plus(group, { GetCommand: 1 }));
    const queued = sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody;
    expect(JSON.parse(queued ?? '{}')).toMatchObject({ seq: 8, viewers: 1234 });
  });

  it('tells no viewer count in a conversation that is no room, its counter update answering only what it changed', async () => {
    // Act
    const reply = replyOf(await createSendHandler(makeDeps())(sendEvent(rawFrame())));

    // Assess
    expect(reply).not.toHaveProperty('viewers');
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, { ReturnValues: 'UPDATED_NEW' });
    const queued = sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody;
    expect(JSON.parse(queued ?? '{}')).not.toHaveProperty('viewers');
  });

  it('makes no slow-mode request in a conversation that is no room', async () => {
    // Act
    const reply = replyOf(await createSendHandler(makeDeps())(sendEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ type: 'ack', seq: 42 });
    expect(ddbMock).not.toHaveReceivedCommandWith(GetCommand, { TableName: TABLE_NAMES.conversations });
    expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression: 'SET slowPostAt = :now, slowPostId = :id',
    });
  });
});
