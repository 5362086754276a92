/**
 * The send function under unit test: mocked DynamoDB and SQS clients, its deps, frames and events, and
 * the AWS answers the send tests start from (alice, a member of c1, sends m-1 and reserves seq 42).
 * A test file calls {@link useSendFunctionMocks} once.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, expect, vi } from 'vitest';
import type { SendHandlerDeps } from '../../../lambdas/send/routes';
import { contentDigestOf } from '../../../lambdas/send/send';
import type { ChatMessage, SendFrame } from '../../../shared/protocol';
import type {
  AuthorizerContext,
  Caller,
  InvocationContext,
  RouteEvent,
  RouteResult,
} from '../../../shared/route-kit';
import { META_SK, memberSk, TTL_ATTRIBUTE } from '../../../shared/tables';
import { routeEvent } from '../../support/api-gateway';

export const TABLE_NAMES = {
  conversations: 'test-conversations',
  messages: 'test-messages',
  idempotency: 'test-idempotency',
};
export const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/fanout.fifo';
export const NOW = new Date('2025-03-04T05:06:07.000Z');
export const CLAIM_TOKEN = 'claim-token-1';
/** The idempotency key of alice's message m-1 in c1. */
export const KEY = 'c1#alice#m-1';
/** META's lastSeq before the send: the send reserves 42. */
export const LAST_SEQ = 41;
/** When the original of a resent message was stored. */
export const ORIGINAL_SENT_AT = '2025-03-04T05:00:00.000Z';

export const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
export const sqs = new SQSClient({ region: 'eu-west-1' });
export const ddbMock = mockClient(ddb);
export const sqsMock = mockClient(sqs);

export const silentLogger = (): Logger => new Logger({ serviceName: 'chat-send-test', logLevel: 'SILENT' });

export function makeDeps(overrides: Partial<SendHandlerDeps> = {}): SendHandlerDeps {
  return {
    ddb,
    sqs,
    tables: TABLE_NAMES,
    fanoutQueueUrl: QUEUE_URL,
    now: () => NOW,
    logger: silentLogger(),
    metrics: { record: vi.fn() },
    disconnect: vi.fn(async () => {}),
    newClaimToken: () => CLAIM_TOKEN,
    ...overrides,
  };
}

export const caller = (overrides: Partial<Caller> = {}): Caller => ({
  userId: 'alice',
  connectionId: 'conn-alice',
  awsRequestId: 'aws-1',
  deadline: NOW.getTime() + 10_000,
  signal: new AbortController().signal,
  ...overrides,
});

export const frame = (overrides: Partial<SendFrame> = {}): SendFrame => ({
  action: 'send',
  conversationId: 'c1',
  clientMessageId: 'm-1',
  body: 'hello',
  ...overrides,
});

/** `body` on the `send` route from alice's connection; `null` leaves the authorizer out. */
export const sendEvent = (
  body: string,
  authorizer: AuthorizerContext | null = { principalId: 'alice' },
): RouteEvent => routeEvent({ body, routeKey: 'send', connectionId: 'conn-alice', authorizer });

export const rawFrame = (fields: Record<string, unknown> = {}): string =>
  JSON.stringify({
    action: 'send',
    requestId: 'r-1',
    conversationId: 'c1',
    clientMessageId: 'm-1',
    body: 'hello',
    ...fields,
  });

/** The Lambda context with `remainingMs` left in the invocation. */
export const lambdaContext = (remainingMs: number): InvocationContext => ({
  getRemainingTimeInMillis: () => remainingMs,
});

export const replyOf = (result: RouteResult): Record<string, unknown> =>
  JSON.parse(result.body) as Record<string, unknown>;

/** The message the send under test stores when it reserves `seq`. */
export const messageAt = (seq: number, overrides: Partial<ChatMessage> = {}): ChatMessage => ({
  conversationId: 'c1',
  seq,
  senderId: 'alice',
  body: 'hello',
  sentAt: NOW.toISOString(),
  ...overrides,
});

/** The counter update of the send under test, and the sender's member item (membership and send rate). */
export const COUNTER = { TableName: TABLE_NAMES.conversations, Key: { conversationId: 'c1', sk: META_SK } };
/** The claim of m-1 (its mark is an UpdateItem of it), and the messages table (message and tombstone puts). */
export const CLAIM = { TableName: TABLE_NAMES.idempotency, Key: { idempotencyKey: KEY } };
export const MESSAGES = { TableName: TABLE_NAMES.messages };
export const MEMBER = {
  TableName: TABLE_NAMES.conversations,
  Key: { conversationId: 'c1', sk: memberSk('alice') },
};

export function conditionFailed(item?: Record<string, AttributeValue>): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    ...(item === undefined ? {} : { Item: item }),
  });
}

/** An error as the SDK throws it: only its name tells what happened. */
export const awsError = (name: string): Error => Object.assign(new Error(`${name} from AWS`), { name });

/** The idempotency item of a send marked with `seq` at `sentAt`, as DynamoDB returns it with ALL_OLD: raw attribute values. */
export const finishedClaim = (
  seq: number,
  content: Partial<SendFrame> = {},
  sentAt = ORIGINAL_SENT_AT,
): Record<string, AttributeValue> => ({
  idempotencyKey: { S: KEY },
  conversationId: { S: 'c1' },
  contentDigest: { S: contentDigestOf(frame(content)) },
  claimToken: { S: 'first-attempt' },
  claimedAt: { N: String(Date.parse(ORIGINAL_SENT_AT) - 50) },
  seq: { N: String(seq) },
  sentAt: { S: sentAt },
  [TTL_ATTRIBUTE]: { N: '1900000000' },
});

/** The idempotency item of an attempt still in flight (no seq yet), claimed `ageMs` before NOW. */
export const liveClaim = (
  ageMs: number,
  content: Partial<SendFrame> = {},
): Record<string, AttributeValue> => ({
  idempotencyKey: { S: KEY },
  conversationId: { S: 'c1' },
  contentDigest: { S: contentDigestOf(frame(content)) },
  claimToken: { S: 'first-attempt' },
  claimedAt: { N: String(NOW.getTime() - ageMs) },
  [TTL_ATTRIBUTE]: { N: '1900000000' },
});

/** Every AWS call of both clients, in the order they were made. */
export function awsCalls(): string[] {
  return [...ddbMock.calls(), ...sqsMock.calls()]
    .sort((a, b) => (a.calledBefore(b) ? -1 : 1))
    .map((call) => call.args[0].constructor.name);
}

/** The options (abort signal) the code passed with its most recent DynamoDB call. */
export function lastDdbOptions(): { abortSignal?: AbortSignal } | undefined {
  const args: unknown[] = ddbMock.calls().at(-1)?.args ?? [];
  return args[1] as { abortSignal?: AbortSignal } | undefined;
}

export function expectClaimReleased(): void {
  expect(ddbMock).toHaveReceivedCommandExactlyOnceWith(DeleteCommand, {
    TableName: TABLE_NAMES.idempotency,
    Key: { idempotencyKey: KEY },
    ConditionExpression: 'claimToken = :token',
    ExpressionAttributeValues: { ':token': CLAIM_TOKEN },
  });
}

/** The mark of the claim with `seq` (moved from `previous`), as the send under test makes it. */
export const markInput = (seq: number, sentAt = NOW.toISOString(), previous?: number) => ({
  ...CLAIM,
  UpdateExpression: 'SET seq = :next, sentAt = :sentAt',
  ConditionExpression:
    previous === undefined
      ? 'claimToken = :token AND attribute_not_exists(seq)'
      : 'claimToken = :token AND seq = :seq',
  ExpressionAttributeValues: {
    ':next': seq,
    ':sentAt': sentAt,
    ':token': CLAIM_TOKEN,
    ...(previous === undefined ? {} : { ':seq': previous }),
  },
});

/** The message put fails with `fail()` while tombstone puts (the writer's own fill) succeed. */
export function givenMessagePutFails(fail: () => unknown): void {
  ddbMock.on(PutCommand, MESSAGES).callsFake((input: { Item?: Record<string, unknown> }) => {
    if (input.Item?.tombstone === true) return {};
    return fail();
  });
}

/** The seqs whose slots the send under test filled with a tombstone, in order. */
export const tombstonesPut = (): number[] =>
  ddbMock
    .commandCalls(PutCommand, MESSAGES)
    .map((call) => call.args[0].input.Item)
    .filter((item) => item?.tombstone === true)
    .map((item) => Number(item?.seq));

/** The seqs the send under test stored its message at, in order. */
export const messagesPut = (): number[] =>
  ddbMock
    .commandCalls(PutCommand, MESSAGES)
    .map((call) => call.args[0].input.Item)
    .filter((item) => item?.tombstone !== true)
    .map((item) => Number(item?.seq));

export function expectNoReservation(): void {
  expect(ddbMock).not.toHaveReceivedCommandWith(UpdateCommand, COUNTER);
}

let lastSeq: number;

/** Alice is a member of c1, whose counter stands at LAST_SEQ; every write succeeds. */
export function givenEverythingSucceeds(): void {
  lastSeq = LAST_SEQ;
  ddbMock.on(PutCommand).resolves({});
  ddbMock.on(UpdateCommand).resolves({});
  ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.conversations }).callsFake(({ Key }) => {
    if (Key?.sk !== memberSk('alice')) throw conditionFailed();
    return {};
  });
  ddbMock.on(UpdateCommand, COUNTER).callsFake(() => {
    lastSeq += 1;
    return { Attributes: { lastSeq } };
  });
  ddbMock.on(DeleteCommand).resolves({});
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'sqs-1' });
}

/** The claim put collides with `item` (returned with ALL_OLD), and the message of seq 7 is stored. */
export function givenClaimExists(item: Record<string, AttributeValue>): void {
  ddbMock.on(PutCommand, { TableName: TABLE_NAMES.idempotency }).rejectsOnce(conditionFailed(item));
  ddbMock
    .on(GetCommand, { TableName: TABLE_NAMES.messages })
    .resolves({ Item: { ...messageAt(7, { sentAt: ORIGINAL_SENT_AT }), clientMessageId: 'm-1' } });
}

/** Resets both mocks to {@link givenEverythingSucceeds} before each test, and real timers after it. */
export function useSendFunctionMocks(): void {
  beforeEach(() => {
    ddbMock.reset();
    sqsMock.reset();
    givenEverythingSucceeds();
  });

  afterEach(() => {
    vi.useRealTimers();
  });
}
