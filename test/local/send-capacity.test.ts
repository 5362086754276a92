/**
 * What one send costs in DynamoDB capacity, counted by DynamoDB Local (ReturnConsumedCapacity: TOTAL on
 * every request of the send handler): the numbers docs/cost.md "Cutting the 1:1 path" reasons from.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import type { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { createSendHandler } from '../../lambdas/send/routes';
import { createTables } from '../../local/resources';
import { userBudgetOf } from '../../shared/route-kit';
import { createConversation, createRoom } from '../../shared/store/conversations';
import { routeEvent } from '../support/api-gateway';
import { useDynamoDbLocal } from '../support/local-runtime';

const local = useDynamoDbLocal();

interface Consumed {
  command: string;
  units: number;
}

/** A document client that asks every request for its consumed capacity and records it. */
function countingClient(): { ddb: DynamoDBDocumentClient; consumed: Consumed[] } {
  const consumed: Consumed[] = [];
  const ddb = DynamoDBDocumentClient.from(local().ddb);
  ddb.middlewareStack.add(
    (next, context) => async (args) => {
      (args.input as Record<string, unknown>).ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      const reported = (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
      const list = (Array.isArray(reported) ? reported : [reported]) as { CapacityUnits?: number }[];
      const units = list.reduce((sum, each) => sum + (each?.CapacityUnits ?? 0), 0);
      consumed.push({ command: context.commandName ?? '?', units });
      return result;
    },
    { step: 'initialize', name: 'countCapacity', override: true },
  );
  return { ddb, consumed };
}

/** The send handler over `ddb`, and a send of alice's through it; its fan-out queue is a fake. */
function sendAsAlice(ddb: DynamoDBDocumentClient, tables: Awaited<ReturnType<typeof createTables>>) {
  const sqs = { send: vi.fn(async (_: SendMessageCommand) => ({})) };
  const handler = createSendHandler({
    ddb,
    sqs: sqs as never,
    tables,
    userBudget: userBudgetOf(ddb, tables),
    fanoutQueueUrl: 'https://sqs.local/000000000000/fanout.fifo',
    now: () => new Date(),
    logger: new Logger({ serviceName: 'chat-send-test', logLevel: 'SILENT' }),
    metrics: { record: vi.fn() },
    disconnect: vi.fn(async () => {}),
  });
  const send = (conversationId: string, body: string) =>
    handler(
      routeEvent({
        body: JSON.stringify({
          action: 'send',
          requestId: 'r-1',
          conversationId,
          clientMessageId: 'm-1',
          body,
        }),
        routeKey: 'send',
        connectionId: 'conn-alice',
        authorizer: { principalId: 'alice' },
      }),
    );
  return { sqs, send };
}

describe('the capacity of one 1:1 send', () => {
  it('is six write units, one per request, and no read', async () => {
    // Prepare
    const tables = await createTables(local().ddb, `cap${Date.now()}`);
    const { ddb, consumed } = countingClient();
    await createConversation(ddb, tables, {
      conversationId: 'c1',
      members: ['alice', 'bob'],
      createdBy: 'alice',
      now: new Date(),
      direct: true,
    });
    consumed.length = 0;
    const { sqs, send } = sendAsAlice(ddb, tables);

    // Act
    const reply = await send('c1', 'hello bob, a message of ordinary length');

    // Assess: six writes of one unit each (was eight: the claim's mark and the message were one
    // transaction of two items, 4 units).
    expect(JSON.parse(reply.body)).toMatchObject({ type: 'ack', seq: 1 });
    expect(consumed).toEqual([
      { command: 'UpdateItemCommand', units: 1 }, // the per-user frame budget
      { command: 'UpdateItemCommand', units: 1 }, // membership and the send bucket
      { command: 'PutItemCommand', units: 1 }, // the claim
      { command: 'UpdateItemCommand', units: 1 }, // the seq counter
      { command: 'UpdateItemCommand', units: 1 }, // the claim marked with the seq
      { command: 'PutItemCommand', units: 1 }, // the message
    ]);
    expect(sqs.send).toHaveBeenCalledTimes(1);
  }, 60_000);

  it("costs a room's send no unit more for the viewer count its counter update answers", async () => {
    // Prepare: a room of alice's; a send there reads its slow mode beside the membership check.
    const tables = await createTables(local().ddb, `capr${Date.now()}`);
    const { ddb, consumed } = countingClient();
    await createRoom(ddb, tables, {
      conversationId: 'room_c1',
      title: 'Launch',
      access: 'public',
      slowModeSeconds: 0,
      tickMs: 0,
      createdBy: 'alice',
      now: new Date(),
    });
    consumed.length = 0;
    const { sqs, send } = sendAsAlice(ddb, tables);

    // Act
    const reply = await send('room_c1', 'hello room, a message of ordinary length');

    // Assess: the 1:1 send's six write units and the slow-mode read; the counter still one unit.
    expect(JSON.parse(reply.body)).toMatchObject({ type: 'ack', seq: 1, viewers: 1 });
    expect(consumed.filter(({ command }) => command !== 'GetItemCommand')).toEqual([
      { command: 'UpdateItemCommand', units: 1 }, // the per-user frame budget
      { command: 'UpdateItemCommand', units: 1 }, // membership and the send bucket
      { command: 'PutItemCommand', units: 1 }, // the claim
      { command: 'UpdateItemCommand', units: 1 }, // the seq counter, answering the member count
      { command: 'UpdateItemCommand', units: 1 }, // the claim marked with the seq
      { command: 'PutItemCommand', units: 1 }, // the message
    ]);
    expect(consumed.filter(({ command }) => command === 'GetItemCommand')).toEqual([
      { command: 'GetItemCommand', units: 1 }, // the slow mode, one consistent read
    ]);
    const queued = JSON.parse(String(sqs.send.mock.calls[0]?.[0].input.MessageBody));
    expect(queued).toMatchObject({ seq: 1, viewers: 1 });
  }, 60_000);
});
