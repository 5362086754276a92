/**
 * What one frame of each conversations-function action costs in DynamoDB requests, as docs/security.md
 * ("Limits and the cost of one frame") says: the requests are counted with every table answering as in
 * the worst case a page allows (a member, a full page of one conversation, listeners present), plus the
 * per-user budget's one UpdateItem of the caller's limits item (none for `ping`).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createConversationsHandler } from '../../lambdas/conversations/routes';
import type { PostFn } from '../../shared/poster';
import { userBudgetOf } from '../../shared/route-kit';
import { META_SK } from '../../shared/tables';
import { routeEvent } from '../support/api-gateway';
import { routeKitFakes } from '../support/route-kit';

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const tables = {
  conversations: 'conversations',
  subscriptions: 'subscriptions',
  connections: 'connections',
  messages: 'messages',
};
const NOW = new Date('2030-01-02T03:04:05.000Z');

beforeEach(() => {
  ddbMock.reset();
  // The caller is a member; the conversation has messages 1..3.
  ddbMock
    .on(GetCommand)
    .callsFake((input: GetCommandInput) =>
      input.Key?.sk === META_SK
        ? { Item: { conversationId: 'c1', sk: META_SK, lastSeq: 3 } }
        : { Item: { conversationId: 'c1', sk: input.Key?.sk, memberId: 'alice' } },
    );
  ddbMock.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    if (input.TableName === tables.messages)
      return {
        Items: [1, 2, 3].map((seq) => ({
          conversationId: 'c1',
          seq,
          senderId: 'bob',
          body: 'x',
          sentAt: 'T',
        })),
      };
    if (input.TableName === tables.subscriptions)
      return { Items: [{ connectionId: 'bob-1', userId: 'bob' }] };
    return { Items: [{ conversationId: 'c1', memberId: 'alice', readSeq: 1 }, { memberId: 'bob' }] };
  });
  ddbMock.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => ({
    Responses: {
      [tables.conversations]: input.RequestItems?.[tables.conversations]
        ? [{ conversationId: 'c1', sk: META_SK, lastSeq: 3, createdBy: 'bob', createdAt: 'T' }]
        : [],
      [tables.messages]: input.RequestItems?.[tables.messages]
        ? [{ conversationId: 'c1', seq: 3, senderId: 'bob', body: 'x', sentAt: 'T' }]
        : [],
    },
  }));
  ddbMock.on(UpdateCommand).resolves({ Attributes: { readSeq: 3 } });
  ddbMock.on(DeleteCommand).resolves({});
});

async function framesCost(
  body: Record<string, unknown>,
): Promise<{ reply: Record<string, unknown>; requests: number }> {
  const post = vi.fn<PostFn>(async () => ({ status: 'delivered', attempts: 1 }));
  const handle = createConversationsHandler({
    ddb,
    tables,
    logger: new Logger({ serviceName: 'frame-cost-test', logLevel: 'SILENT' }),
    ...routeKitFakes(),
    clock: () => NOW,
    ephemeral: { post },
    userBudget: userBudgetOf(ddb, tables, () => NOW.getTime()),
  });
  const result = await handle(
    routeEvent({ body: { requestId: 'r', ...body }, connectionId: 'alice-1', at: NOW }),
  );
  return { reply: JSON.parse(result.body) as Record<string, unknown>, requests: ddbMock.calls().length };
}

describe('the DynamoDB requests of one frame', () => {
  it.each([
    ['ping', { action: 'ping' }, 0],
    ['typing: budget, throttle, listeners', { action: 'typing', conversationId: 'c1' }, 3],
    ['presence: budget, members, their slots', { action: 'presence', conversationId: 'c1' }, 3],
    [
      "listConversations: budget, index page, METAs, newest entries, untitled groups' rosters",
      { action: 'listConversations' },
      5,
    ],
    ['unsubscribe: budget, delete, connection set', { action: 'unsubscribe', conversationId: 'c1' }, 3],
    ['history: budget, membership, counter, page', { action: 'history', conversationId: 'c1' }, 4],
  ] as const)('%s', async (_name, body, expected) => {
    // Act
    const { reply, requests } = await framesCost(body);

    // Assess
    expect(reply).toMatchObject({ type: 'ack' });
    expect(requests).toBe(expected);
  });
});
