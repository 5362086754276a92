/**
 * The conversations function under unit test for its room routes: mocked DynamoDB and SQS clients, the
 * handler, a room's META as stored and its items as a consistent BatchGetItem reads them, and
 * transaction cancellations. A test file calls {@link useRoomFunctionMocks} once.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import {
  type CancellationReason,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  DynamoDBDocumentClient,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, vi } from 'vitest';
import { createConversationsHandler } from '../../../lambdas/conversations/routes';
import type { PostFn } from '../../../shared/poster';
import { META_SK } from '../../../shared/tables';
import { routeEvent } from '../../support/api-gateway';
import { routeKitFakes } from '../../support/route-kit';

export const tables = {
  conversations: 'conversations-t',
  subscriptions: 'subscriptions-t',
  connections: 'connections-t',
  messages: 'messages-t',
};
export const NOW = new Date('2030-01-02T03:04:05.000Z');
export const ROOM = 'room_r1';
export const CODE = 'Zx8-invite_code-0123';

export const ddbMock = mockClient(DynamoDBDocumentClient);
export const sqsMock = mockClient(SQSClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
export const post = vi.fn<PostFn>(async () => ({ status: 'delivered', attempts: 1 }));

const handler = createConversationsHandler({
  ddb,
  tables,
  logger: new Logger({ serviceName: 'chat-rooms-test', logLevel: 'SILENT' }),
  ...routeKitFakes(),
  clock: () => NOW,
  newId: () => 'new',
  ephemeral: { post },
  membership: { sqs: new SQSClient({ region: 'us-east-1' }), fanoutQueueUrl: 'https://sqs/fanout.fifo' },
});

export async function call(
  body: Record<string, unknown>,
  userId = 'alice',
): Promise<Record<string, unknown>> {
  const result = await handler(routeEvent({ body, userId, connectionId: `${userId}-1`, at: NOW }));
  return JSON.parse(result.body) as Record<string, unknown>;
}

/** A room's META as stored: alice created it; `fields` override. */
export const roomMeta = (fields: Record<string, unknown> = {}) => ({
  conversationId: ROOM,
  sk: META_SK,
  kind: 'room',
  title: 'Launch',
  access: 'public',
  slowModeSeconds: 0,
  createdBy: 'alice',
  createdAt: NOW.toISOString(),
  lastSeq: 3,
  memberCount: 2,
  ...fields,
});

/** The room's items as consistent BatchGetItems read them: META and the member items of `roles`. */
export function givenRoom(
  meta: Record<string, unknown>,
  roles: Record<string, 'admin' | 'member'> = {},
): void {
  ddbMock.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
    const keys = input.RequestItems?.[tables.conversations]?.Keys ?? [];
    const items = keys.flatMap((key) => {
      if (key.sk === META_SK) return [meta];
      const userId = String(key.sk).slice('MEMBER#'.length);
      const role = roles[userId];
      return role === undefined ? [] : [{ conversationId: ROOM, sk: key.sk, memberId: userId, role }];
    });
    return { Responses: { [tables.conversations]: items } };
  });
}

export const cancelled = (...reasons: CancellationReason[]) =>
  new TransactionCanceledException({ message: 'cancelled', $metadata: {}, CancellationReasons: reasons });
export const ok: CancellationReason = { Code: 'None' };
export const failed = (item?: Record<string, unknown>): CancellationReason => ({
  Code: 'ConditionalCheckFailed',
  ...(item === undefined ? {} : { Item: marshall(item) }),
});

/** The transaction items of the last TransactWriteItems. */
export const lastTransaction = () =>
  ddbMock.commandCalls(TransactWriteCommand).at(-1)?.args[0].input.TransactItems ?? [];

/** Resets the mocks before each test of the calling file; every transaction succeeds unless a test says otherwise. */
export function useRoomFunctionMocks(): void {
  beforeEach(() => {
    ddbMock.reset();
    sqsMock.reset();
    post.mockClear();
    ddbMock.on(TransactWriteCommand).resolves({});
  });
}
