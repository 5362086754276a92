/**
 * The send function's edit and delete routes under unit test: mocked DynamoDB, SQS and API Gateway
 * clients, the deps and events, and the AWS answers the tests start from (alice and bob are members of
 * c1, mallory is not; alice's message sits at seq 7). A test file calls {@link useEditFunctionMocks} once.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, expect, vi } from 'vitest';
import { createSendHandler, type SendHandlerDeps } from '../../../lambdas/send/routes';
import type { RouteEvent } from '../../../shared/route-kit';
import { SEND_INTERVAL_MS } from '../../../shared/store/conversations';
import { memberSk } from '../../../shared/tables';
import { routeEvent } from '../../support/api-gateway';
import { ddb, ddbMock, NOW, QUEUE_URL, sqs, sqsMock, TABLE_NAMES } from './send-function';

/** The same tables, clients and time as the send tests'. */
export { ddb, ddbMock, NOW, QUEUE_URL, sqs, sqsMock, TABLE_NAMES };

export const SENT_AT = '2025-03-04T05:00:00.000Z';
export const apiMock = mockClient(ApiGatewayManagementApiClient);

export const makeDeps = (overrides: Partial<SendHandlerDeps> = {}): SendHandlerDeps => ({
  ddb,
  sqs,
  tables: TABLE_NAMES,
  fanoutQueueUrl: QUEUE_URL,
  now: () => NOW,
  logger: new Logger({ serviceName: 'chat-edit-test', logLevel: 'SILENT' }),
  metrics: { record: vi.fn() },
  disconnect: vi.fn(async () => {}),
  ...overrides,
});

/** `frame` on its route from `userId`'s connection, with the fields every frame of these tests shares. */
export const frameEvent = (frame: Record<string, unknown>, userId = 'alice'): RouteEvent =>
  routeEvent({
    body: { requestId: 'r-1', conversationId: 'c1', seq: 7, ...frame },
    routeKey: String(frame.action),
    userId,
    connectionId: `conn-${userId}`,
  });

/** Runs one frame through the send function's handler, as `userId`, and returns the parsed reply. */
export async function invoke(
  frame: Record<string, unknown>,
  userId = 'alice',
  overrides: Partial<SendHandlerDeps> = {},
): Promise<Record<string, unknown>> {
  const handler = createSendHandler(makeDeps(overrides));
  const result = await handler(frameEvent(frame, userId));
  return JSON.parse(result.body) as Record<string, unknown>;
}

/** The message at seq 7 as DynamoDB holds it (raw attribute values, as ALL_OLD returns them). */
export const storedItem = (fields: Record<string, unknown> = {}) =>
  marshall(
    { conversationId: 'c1', seq: 7, senderId: 'alice', body: 'hello', sentAt: SENT_AT, ...fields },
    { removeUndefinedValues: true },
  );

export function conditionFailed(item?: ReturnType<typeof storedItem>): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    ...(item === undefined ? {} : { Item: item }),
  });
}

/** The update of the message at seq 7 fails its condition; `item` is the message as it was. */
export function givenConditionFails(item?: ReturnType<typeof storedItem>): void {
  ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.messages }).rejects(conditionFailed(item));
}

/** Every AWS call, in the order made. */
export function awsCalls(): string[] {
  return [...ddbMock.calls(), ...sqsMock.calls()]
    .sort((a, b) => (a.calledBefore(b) ? -1 : 1))
    .map((call) => call.args[0].constructor.name);
}

export function expectNothingEnqueued(): void {
  expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
}

/** Resets the mocks to the answers above before each test. */
export function useEditFunctionMocks(): void {
  beforeEach(() => {
    ddbMock.reset();
    sqsMock.reset();
    apiMock.reset();
    // alice and bob are members of c1 with a full send bucket; mallory is not a member.
    ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.conversations }).callsFake(({ Key }) => {
      if (![memberSk('alice'), memberSk('bob')].includes(Key?.sk)) throw conditionFailed();
      return { Attributes: { sendTat: NOW.getTime() + SEND_INTERVAL_MS } };
    });
    ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.messages }).callsFake(({ UpdateExpression }) => ({
      // A delete returns the item as it was (ALL_OLD), an edit as it is now (ALL_NEW).
      Attributes: String(UpdateExpression).includes('deleted')
        ? { conversationId: 'c1', seq: 7, senderId: 'alice', body: 'hello', sentAt: SENT_AT }
        : {
            conversationId: 'c1',
            seq: 7,
            senderId: 'alice',
            body: 'hello, edited',
            editedAt: NOW.toISOString(),
            version: 1,
          },
    }));
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'sqs-1' });
  });
}
