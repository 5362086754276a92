import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createSendHandler,
  DEFAULT_RETRY_POLICY,
  idempotencyKeyOf,
  type SendDeps,
  sendMessage,
} from '../../lambdas/send/send';
import { type ErrorCode, NotAMemberError, SequenceConflictError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { chatMessageSchema, type SendFrame } from '../../shared/protocol';
import { META_SK, memberSk, TTL_ATTRIBUTE } from '../../shared/tables';
import type { AuthorizerContext, Caller, RouteEvent, RouteResult } from '../../shared/websocket';

const TABLE_NAMES = {
  conversations: 'test-conversations',
  messages: 'test-messages',
  idempotency: 'test-idempotency',
};
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/fanout.fifo';
const NOW = new Date('2025-03-04T05:06:07.000Z');

const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const sqs = new SQSClient({ region: 'eu-west-1' });
const ddbMock = mockClient(ddb);
const sqsMock = mockClient(sqs);

type Item = Record<string, unknown>;
type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

const KEY_NAMES: Record<string, string[]> = {
  [TABLE_NAMES.conversations]: ['conversationId', 'sk'],
  [TABLE_NAMES.messages]: ['conversationId', 'seq'],
  [TABLE_NAMES.idempotency]: ['idempotencyKey'],
};

function cancelled(codes: string[]): TransactionCanceledException {
  return new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
    $metadata: {},
    CancellationReasons: codes.map((Code) =>
      Code === 'None' ? { Code } : { Code, Message: 'The conditional request failed' },
    ),
  });
}

function named(value: string | undefined, what: string): string {
  if (value === undefined) throw new Error(`fake DynamoDB: missing ${what}`);
  return value;
}

/**
 * DynamoDB behind the mock: GetItem reads, and TransactWriteItems evaluates every ConditionExpression
 * the code under test sends against the stored items, all-or-nothing, like the real service. A write
 * sent without a condition is applied blindly, so a missing condition shows up as lost or doubled data.
 */
class InMemoryDynamo {
  private readonly items = new Map<string, { table: string; item: Item }>();
  /** Transactions to cancel with TransactionConflict before evaluating them. */
  pendingConflicts = 0;
  /** Runs inside each transaction before its conditions are evaluated (to race a concurrent writer). */
  beforeCommit: (() => void) | undefined;

  constructor(private readonly journal: string[]) {}

  private keyOf(table: string, keyOrItem: Item): string {
    const names = KEY_NAMES[table];
    if (names === undefined) throw new Error(`fake DynamoDB: unknown table ${table}`);
    return JSON.stringify([table, ...names.map((name) => keyOrItem[name])]);
  }

  get(table: string, key: Item): Item | undefined {
    return this.items.get(this.keyOf(table, key))?.item;
  }

  put(table: string, item: Item): void {
    this.items.set(this.keyOf(table, item), { table, item: structuredClone(item) });
  }

  delete(table: string, key: Item): void {
    this.items.delete(this.keyOf(table, key));
  }

  itemsOf(table: string): Item[] {
    return [...this.items.values()].filter((entry) => entry.table === table).map((entry) => entry.item);
  }

  install(): void {
    ddbMock.on(GetCommand).callsFake((input: GetCommandInput) => {
      this.journal.push('get');
      const item = this.get(named(input.TableName, 'TableName'), input.Key ?? {});
      return { Item: item === undefined ? undefined : structuredClone(item) };
    });
    ddbMock.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => this.transact(input));
  }

  private transact(input: TransactWriteCommandInput): Item {
    this.journal.push('transact');
    this.beforeCommit?.();
    const operations = input.TransactItems ?? [];
    if (this.pendingConflicts > 0) {
      this.pendingConflicts--;
      throw cancelled(operations.map((_, index) => (index === 0 ? 'TransactionConflict' : 'None')));
    }
    const codes = operations.map((operation) => (this.holds(operation) ? 'None' : 'ConditionalCheckFailed'));
    if (codes.some((code) => code !== 'None')) throw cancelled(codes);
    for (const operation of operations) this.apply(operation);
    return {};
  }

  private target(operation: TransactItem): {
    table: string;
    key: Item;
    condition: string | undefined;
    values: Item;
  } {
    const { Put, Update, ConditionCheck, Delete } = operation;
    const spec = Put ?? Update ?? ConditionCheck ?? Delete;
    if (spec === undefined) throw new Error('fake DynamoDB: empty transaction item');
    const key = Put?.Item ?? Update?.Key ?? ConditionCheck?.Key ?? Delete?.Key ?? {};
    return {
      table: named(spec.TableName, 'TableName'),
      key,
      condition: spec.ConditionExpression,
      values: spec.ExpressionAttributeValues ?? {},
    };
  }

  private holds(operation: TransactItem): boolean {
    const { table, key, condition, values } = this.target(operation);
    if (condition === undefined) return true;
    const existing = this.get(table, key);
    const notExists = /^attribute_not_exists\((\w+)\)$/.exec(condition);
    if (notExists?.[1] !== undefined) return existing?.[notExists[1]] === undefined;
    const exists = /^attribute_exists\((\w+)\)$/.exec(condition);
    if (exists?.[1] !== undefined) return existing?.[exists[1]] !== undefined;
    const equals = /^(\w+) = (:\w+)$/.exec(condition);
    if (equals?.[1] !== undefined && equals[2] !== undefined) {
      return existing !== undefined && existing[equals[1]] === values[equals[2]];
    }
    throw new Error(`fake DynamoDB: unsupported condition ${condition}`);
  }

  private apply(operation: TransactItem): void {
    const { table, key, values } = this.target(operation);
    if (operation.Put?.Item !== undefined) this.put(table, operation.Put.Item);
    if (operation.Delete !== undefined) this.delete(table, key);
    const expression = operation.Update?.UpdateExpression;
    if (expression !== undefined) {
      const updated: Item = { ...(this.get(table, key) ?? key) };
      for (const assignment of expression.replace(/^SET /, '').split(',')) {
        const [attribute, placeholder] = assignment.split('=').map((part) => part.trim());
        if (attribute === undefined || placeholder === undefined) throw new Error(`bad update ${expression}`);
        updated[attribute] = values[placeholder];
      }
      this.put(table, updated);
    }
  }
}

let journal: string[];
let db: InMemoryDynamo;

function seedConversation(conversationId: string, lastSeq: number, members: string[]): void {
  db.put(TABLE_NAMES.conversations, { conversationId, sk: META_SK, lastSeq });
  for (const member of members) {
    db.put(TABLE_NAMES.conversations, { conversationId, sk: memberSk(member), memberId: member });
  }
}

const silentLogger = (): Logger => new Logger({ serviceName: 'chat-send-test', logLevel: 'SILENT' });

function makeDeps(overrides: Partial<SendDeps & { logger: Logger }> = {}): SendDeps & { logger: Logger } {
  return {
    ddb,
    sqs,
    tables: TABLE_NAMES,
    fanoutQueueUrl: QUEUE_URL,
    now: () => NOW,
    sleep: vi.fn(async () => {}),
    random: () => 0.5,
    logger: silentLogger(),
    ...overrides,
  };
}

const caller = (userId = 'alice'): Caller => ({
  userId,
  connectionId: `conn-${userId}`,
  awsRequestId: 'aws-1',
});

const frame = (overrides: Partial<SendFrame> = {}): SendFrame => ({
  action: 'send',
  conversationId: 'c1',
  clientMessageId: 'm-1',
  body: 'hello',
  ...overrides,
});

/** `null` leaves the authorizer out, as for a route reached without `$connect` authorization. */
function routeEvent(
  body: string,
  authorizer: AuthorizerContext | null = { principalId: 'alice' },
): RouteEvent {
  return {
    body,
    isBase64Encoded: false,
    requestContext: {
      routeKey: 'send',
      messageId: 'msg-1',
      eventType: 'MESSAGE',
      extendedRequestId: 'ext-1',
      requestTime: '04/Mar/2025:05:06:07 +0000',
      messageDirection: 'IN',
      stage: 'test',
      connectedAt: NOW.getTime(),
      requestTimeEpoch: NOW.getTime(),
      requestId: 'aws-req-1',
      domainName: 'abc.execute-api.eu-west-1.amazonaws.com',
      connectionId: 'conn-alice',
      apiId: 'abc',
      ...(authorizer === null ? {} : { authorizer }),
    },
  };
}

const rawFrame = (fields: Record<string, unknown> = {}): string =>
  JSON.stringify({
    action: 'send',
    requestId: 'r-1',
    conversationId: 'c1',
    clientMessageId: 'm-1',
    body: 'hi',
    ...fields,
  });

const replyOf = (result: RouteResult): Record<string, unknown> =>
  JSON.parse(result.body) as Record<string, unknown>;

function transactItemsSent(): TransactItem[][] {
  return ddbMock.commandCalls(TransactWriteCommand).map((call) => call.args[0].input.TransactItems ?? []);
}

function sqsBodies(): unknown[] {
  return sqsMock
    .commandCalls(SendMessageCommand)
    .map((call) => JSON.parse(call.args[0].input.MessageBody ?? ''));
}

beforeEach(() => {
  ddbMock.reset();
  sqsMock.reset();
  journal = [];
  db = new InMemoryDynamo(journal);
  db.install();
  sqsMock.on(SendMessageCommand).callsFake(() => {
    journal.push('enqueue');
    return { MessageId: `sqs-${journal.length}` };
  });
});

describe('send: sent means safe (G1)', () => {
  it('acks with the new seq only after the transaction and then SendMessage succeeded', async () => {
    // Prepare
    seedConversation('c1', 41, ['alice']);

    // Act
    const ack = await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(ack).toEqual({ conversationId: 'c1', seq: 42, sentAt: NOW.toISOString(), duplicate: false });
    expect(journal.filter((step) => step !== 'get')).toEqual(['transact', 'enqueue']);
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageGroupId: 'c1',
      MessageDeduplicationId: 'c1:42',
    });
    const [queued] = sqsBodies();
    expect(chatMessageSchema.parse(queued)).toEqual({
      conversationId: 'c1',
      seq: 42,
      senderId: 'alice',
      body: 'hello',
      sentAt: NOW.toISOString(),
    });
    expect(db.get(TABLE_NAMES.messages, { conversationId: 'c1', seq: 42 })).toMatchObject({
      senderId: 'alice',
      body: 'hello',
      clientMessageId: 'm-1',
    });
  });

  it('returns a retryable error frame and no ack when SendMessage fails after the message was stored', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice']);
    sqsMock.on(SendMessageCommand).rejects(new Error('SQS is unavailable'));
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(routeEvent(rawFrame())));

    // Assess
    expect(reply).toEqual({
      type: 'error',
      requestId: 'r-1',
      code: 'internal_error',
      message: expect.any(String),
      retryable: true,
    });
    expect(sqsMock).toHaveReceivedCommandTimes(SendMessageCommand, 1);
  });

  it('never enqueues a message whose transaction failed', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice']);
    ddbMock.on(TransactWriteCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toThrow('ProvisionedThroughputExceededException');
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('repairs a lost enqueue when the client resends after the error frame', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice']);
    sqsMock
      .on(SendMessageCommand)
      .rejectsOnce(new Error('SQS is unavailable'))
      .resolves({ MessageId: 'sqs-2' });
    const deps = makeDeps();
    await expect(sendMessage(deps, frame(), caller())).rejects.toThrow('SQS is unavailable');

    // Act
    const ack = await sendMessage(deps, frame(), caller());

    // Assess
    expect(ack).toEqual({ conversationId: 'c1', seq: 1, sentAt: NOW.toISOString(), duplicate: true });
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(sqsMock).toHaveReceivedNthCommandWith(SendMessageCommand, 2, {
      MessageGroupId: 'c1',
      MessageDeduplicationId: 'c1:1',
    });
    expect(sqsBodies()[1]).toEqual({
      conversationId: 'c1',
      seq: 1,
      senderId: 'alice',
      body: 'hello',
      sentAt: NOW.toISOString(),
    });
  });
});

describe('send: server-assigned order (G2)', () => {
  it('advances lastSeq only through a write conditioned on the value it read', async () => {
    // Prepare
    seedConversation('c1', 7, ['alice']);

    // Act
    await sendMessage(makeDeps(), frame(), caller());

    // Assess
    const [items] = transactItemsSent();
    expect(items).toHaveLength(4);
    expect(items?.[0]?.Update).toMatchObject({
      TableName: TABLE_NAMES.conversations,
      Key: { conversationId: 'c1', sk: META_SK },
      UpdateExpression: expect.stringMatching(/^SET lastSeq = :next\b/),
      ConditionExpression: 'lastSeq = :expected',
      ExpressionAttributeValues: { ':expected': 7, ':next': 8 },
    });
    expect(items?.[1]?.Put).toMatchObject({
      TableName: TABLE_NAMES.messages,
      Item: { conversationId: 'c1', seq: 8 },
      ConditionExpression: 'attribute_not_exists(conversationId)',
    });
    const commandNames = new Set(ddbMock.calls().map((call) => call.args[0].constructor.name));
    expect(commandNames).toEqual(new Set(['GetCommand', 'TransactWriteCommand']));
  });

  it('gives 25 concurrent senders the seqs 1..25 with no gap and no duplicate', async () => {
    // Prepare
    const senders = Array.from({ length: 25 }, (_, index) => `user-${index + 1}`);
    seedConversation('c1', 0, senders);
    const deps = makeDeps({ random: Math.random });

    // Act
    const acks = await Promise.all(
      senders.map((sender) =>
        sendMessage(deps, frame({ clientMessageId: `m-${sender}`, body: sender }), caller(sender)),
      ),
    );

    // Assess
    const expected = senders.map((_, index) => index + 1);
    const stored = db.itemsOf(TABLE_NAMES.messages);
    expect(stored.map((item) => item.seq).sort((a, b) => Number(a) - Number(b))).toEqual(expected);
    expect(acks.map((ack) => ack.seq).sort((a, b) => a - b)).toEqual(expected);
    for (const [index, ack] of acks.entries()) {
      expect(db.get(TABLE_NAMES.messages, { conversationId: 'c1', seq: ack.seq })?.senderId).toBe(
        senders[index],
      );
    }
    expect(db.get(TABLE_NAMES.conversations, { conversationId: 'c1', sk: META_SK })?.lastSeq).toBe(25);
    const dedupIds = sqsMock
      .commandCalls(SendMessageCommand)
      .map((call) => call.args[0].input.MessageDeduplicationId);
    expect(new Set(dedupIds)).toEqual(new Set(expected.map((seq) => `c1:${seq}`)));
    // The senders really contended: most transactions lost the counter race and were retried.
    expect(ddbMock.commandCalls(TransactWriteCommand).length).toBeGreaterThan(senders.length);
  });

  it('retries after a TransactionConflict and stores under the next seq', async () => {
    // Prepare
    seedConversation('c1', 3, ['alice']);
    db.pendingConflicts = 1;
    const deps = makeDeps();

    // Act
    const ack = await sendMessage(deps, frame(), caller());

    // Assess
    expect(ack.seq).toBe(4);
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 2);
    expect(deps.sleep).toHaveBeenCalledTimes(1);
  });

  it('gives up with a retryable conflict error after the last attempt, backing off with capped jitter', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice']);
    db.beforeCommit = () => {
      const meta = db.get(TABLE_NAMES.conversations, { conversationId: 'c1', sk: META_SK });
      db.put(TABLE_NAMES.conversations, { ...meta, lastSeq: Number(meta?.lastSeq) + 1 });
    };
    const sleep = vi.fn(async (_ms: number) => {});
    const deps = makeDeps({ sleep, random: () => 0.999 });

    // Act
    const sending = sendMessage(deps, frame(), caller());

    // Assess
    await expect(sending).rejects.toThrow(SequenceConflictError);
    await expect(sending).rejects.toMatchObject({ code: 'conflict', retryable: true });
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, DEFAULT_RETRY_POLICY.maxAttempts);
    const delays = sleep.mock.calls.map(([ms]) => ms);
    expect(delays).toHaveLength(DEFAULT_RETRY_POLICY.maxAttempts - 1);
    expect(delays.slice(0, 5)).toEqual([9, 19, 39, 79, 159]);
    expect(Math.max(...delays)).toBeLessThanOrEqual(DEFAULT_RETRY_POLICY.maxDelayMs);
    expect(db.itemsOf(TABLE_NAMES.messages)).toEqual([]);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('answers a conflict error frame with retryable true through the route handler', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice']);
    ddbMock.on(TransactWriteCommand).rejects(cancelled(['ConditionalCheckFailed', 'None', 'None', 'None']));
    const handler = createSendHandler(
      makeDeps({ retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 200 } }),
    );

    // Act
    const reply = replyOf(await handler(routeEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'conflict', retryable: true });
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 3);
  });
});

describe('send: idempotent send (G3)', () => {
  it('returns the original seq and sentAt to a retry, writes no new message and re-enqueues', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice']);
    const first = await sendMessage(makeDeps(), frame(), caller());
    const later = new Date(NOW.getTime() + 60_000);

    // Act
    const retry = await sendMessage(makeDeps({ now: () => later }), frame(), caller());

    // Assess
    expect(retry).toEqual({ ...first, duplicate: true });
    expect(db.itemsOf(TABLE_NAMES.messages)).toHaveLength(1);
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(sqsMock).toHaveReceivedCommandTimes(SendMessageCommand, 2);
    expect(sqsMock).toHaveReceivedNthCommandWith(SendMessageCommand, 2, {
      MessageGroupId: 'c1',
      MessageDeduplicationId: 'c1:1',
    });
    expect(sqsBodies()[1]).toEqual(sqsBodies()[0]);
  });

  it('remembers the clientMessageId per conversation and sender, for the idempotency TTL', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice']);

    // Act
    await sendMessage(makeDeps(), frame(), caller());

    // Assess
    expect(db.get(TABLE_NAMES.idempotency, { idempotencyKey: 'c1#alice#m-1' })).toEqual({
      idempotencyKey: idempotencyKeyOf('c1', 'alice', 'm-1'),
      conversationId: 'c1',
      seq: 1,
      sentAt: NOW.toISOString(),
      [TTL_ATTRIBUTE]: Math.floor(NOW.getTime() / 1000) + LIMITS.idempotencyTtlSeconds,
    });
    expect(transactItemsSent()[0]?.[2]?.Put?.ConditionExpression).toBe(
      'attribute_not_exists(idempotencyKey)',
    );
  });

  it('treats the same clientMessageId from another sender, or another id from the same sender, as new', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice', 'bob']);
    await sendMessage(makeDeps(), frame(), caller('alice'));

    // Act
    const fromBob = await sendMessage(makeDeps(), frame(), caller('bob'));
    const otherId = await sendMessage(makeDeps(), frame({ clientMessageId: 'm-2' }), caller('alice'));

    // Assess
    expect([fromBob.seq, otherId.seq]).toEqual([2, 3]);
    expect([fromBob.duplicate, otherId.duplicate]).toEqual([false, false]);
  });

  it('returns the original seq to a concurrent duplicate that loses the idempotency condition', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice']);
    const deps = makeDeps();

    // Act
    const acks = await Promise.all([
      sendMessage(deps, frame(), caller()),
      sendMessage(deps, frame(), caller()),
    ]);

    // Assess
    expect(acks.map((ack) => ack.seq)).toEqual([1, 1]);
    expect(acks.map((ack) => ack.duplicate).sort()).toEqual([false, true]);
    // Both got past the idempotency read, so the loser learned of the winner from the cancelled transaction.
    expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 2);
    expect(db.itemsOf(TABLE_NAMES.messages)).toHaveLength(1);
    expect(db.get(TABLE_NAMES.conversations, { conversationId: 'c1', sk: META_SK })?.lastSeq).toBe(1);
    const dedupIds = sqsMock
      .commandCalls(SendMessageCommand)
      .map((call) => call.args[0].input.MessageDeduplicationId);
    expect(dedupIds).toEqual(['c1:1', 'c1:1']);
  });
});

describe('send: bad input changes nothing (G8)', () => {
  const limit = LIMITS.maxBodyBytes;
  const multibyteOver = '€'.repeat(Math.floor(limit / 3) + 1);

  it.each<{ input: string; body: string; code: ErrorCode; requestId?: string }>([
    { input: 'malformed JSON', body: '{"action":"send",', code: 'invalid_json' },
    {
      input: 'a missing clientMessageId',
      body: rawFrame({ clientMessageId: undefined }),
      code: 'invalid_request',
      requestId: 'r-1',
    },
    { input: 'a wrong-typed body', body: rawFrame({ body: 42 }), code: 'invalid_request', requestId: 'r-1' },
    {
      input: 'a wrong-typed conversationId',
      body: rawFrame({ conversationId: ['c1'] }),
      code: 'invalid_request',
      requestId: 'r-1',
    },
    {
      input: 'an unknown extra field',
      body: rawFrame({ senderId: 'mallory' }),
      code: 'invalid_request',
      requestId: 'r-1',
    },
    { input: 'an empty body', body: rawFrame({ body: '' }), code: 'invalid_request', requestId: 'r-1' },
    {
      input: 'a body one byte over the limit',
      body: rawFrame({ body: 'a'.repeat(limit + 1) }),
      code: 'payload_too_large',
      requestId: 'r-1',
    },
    {
      input: 'a multibyte body over the byte limit',
      body: rawFrame({ body: multibyteOver }),
      code: 'payload_too_large',
      requestId: 'r-1',
    },
    {
      input: 'a frame over 32 KB',
      body: rawFrame({ body: 'a'.repeat(LIMITS.maxFrameBytes) }),
      code: 'payload_too_large',
    },
    {
      input: 'an unknown action',
      body: rawFrame({ action: 'sned' }),
      code: 'unknown_action',
      requestId: 'r-1',
    },
  ])('refuses $input with $code and touches nothing', async ({ body, code, requestId }) => {
    // Prepare
    seedConversation('c1', 0, ['alice']);
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(routeEvent(body)));

    // Assess
    expect(reply).toEqual({
      type: 'error',
      ...(requestId === undefined ? {} : { requestId }),
      code,
      message: expect.any(String),
      retryable: false,
    });
    expect(ddbMock.calls()).toHaveLength(0);
    expect(sqsMock.calls()).toHaveLength(0);
  });

  it('measures the body limit in UTF-8 bytes, accepting exactly the limit', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice']);
    const atLimit = `${'€'.repeat(Math.floor(limit / 3))}${'a'.repeat(limit % 3)}`;
    const handler = createSendHandler(makeDeps());

    // Act
    const accepted = replyOf(await handler(routeEvent(rawFrame({ body: atLimit }))));

    // Assess
    expect(Buffer.byteLength(atLimit, 'utf8')).toBe(limit);
    expect(multibyteOver.length).toBeLessThan(limit);
    expect(accepted).toMatchObject({
      type: 'ack',
      action: 'send',
      requestId: 'r-1',
      seq: 1,
      duplicate: false,
    });
  });

  it('refuses a non-member with forbidden and writes nothing', async () => {
    // Prepare
    seedConversation('c1', 0, ['bob']);
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(routeEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'forbidden', retryable: false });
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
    expect(sqsMock.calls()).toHaveLength(0);
  });

  it('refuses a caller without an authenticated user and writes nothing', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice']);
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(routeEvent(rawFrame(), null)));

    // Assess
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'unauthorized' });
    expect(ddbMock.calls()).toHaveLength(0);
    expect(sqsMock.calls()).toHaveLength(0);
  });

  it('refuses a sender removed between the membership check and the commit', async () => {
    // Prepare
    seedConversation('c1', 5, ['alice']);
    db.beforeCommit = () =>
      db.delete(TABLE_NAMES.conversations, { conversationId: 'c1', sk: memberSk('alice') });
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(routeEvent(rawFrame())));

    // Assess
    expect(reply).toMatchObject({ type: 'error', requestId: 'r-1', code: 'forbidden' });
    expect(transactItemsSent()[0]?.[3]?.ConditionCheck).toMatchObject({
      Key: { conversationId: 'c1', sk: memberSk('alice') },
      ConditionExpression: 'attribute_exists(conversationId)',
    });
    expect(db.itemsOf(TABLE_NAMES.messages)).toEqual([]);
    expect(db.get(TABLE_NAMES.conversations, { conversationId: 'c1', sk: META_SK })?.lastSeq).toBe(5);
    expect(sqsMock.calls()).toHaveLength(0);
  });

  it('treats a conversation without its counter item as one the sender may not post to', async () => {
    // Prepare
    db.put(TABLE_NAMES.conversations, { conversationId: 'c1', sk: memberSk('alice'), memberId: 'alice' });

    // Act
    const sending = sendMessage(makeDeps(), frame(), caller());

    // Assess
    await expect(sending).rejects.toThrow(NotAMemberError);
    expect(ddbMock).not.toHaveReceivedCommand(TransactWriteCommand);
  });
});

describe('send: route handler and logging', () => {
  it('acks through the route handler with the requestId and seq', async () => {
    // Prepare
    seedConversation('c1', 9, ['alice']);
    const handler = createSendHandler(makeDeps());

    // Act
    const result = await handler(routeEvent(rawFrame({ body: 'hi there' })));

    // Assess
    expect(result.statusCode).toBe(200);
    expect(replyOf(result)).toEqual({
      type: 'ack',
      action: 'send',
      requestId: 'r-1',
      conversationId: 'c1',
      seq: 10,
      sentAt: NOW.toISOString(),
      duplicate: false,
    });
  });

  it('tags its logs with the conversationId and seq', async () => {
    // Prepare
    seedConversation('c1', 0, ['alice']);
    const logger = silentLogger();
    const appendKeys = vi.spyOn(logger, 'appendKeys');

    // Act
    await sendMessage(makeDeps({ logger }), frame(), caller());

    // Assess
    expect(appendKeys).toHaveBeenCalledWith({ conversationId: 'c1' });
    expect(appendKeys).toHaveBeenCalledWith({ seq: 1 });
  });
});

describe('send: handler module', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('fails at cold start naming a missing queue variable', async () => {
    // Prepare
    vi.stubEnv('CONVERSATIONS_TABLE', 'c');
    vi.stubEnv('MESSAGES_TABLE', 'm');
    vi.stubEnv('IDEMPOTENCY_TABLE', 'i');
    vi.stubEnv('FANOUT_QUEUE_URL', '');

    // Act
    const loading = import('../../lambdas/send/handler.js');

    // Assess
    await expect(loading).rejects.toThrow('FANOUT_QUEUE_URL');
  });

  it('exports a handler when every variable is set', async () => {
    // Prepare
    vi.stubEnv('CONVERSATIONS_TABLE', 'c');
    vi.stubEnv('MESSAGES_TABLE', 'm');
    vi.stubEnv('IDEMPOTENCY_TABLE', 'i');
    vi.stubEnv('FANOUT_QUEUE_URL', QUEUE_URL);

    // Act
    const module = await import('../../lambdas/send/handler.js');

    // Assess
    expect(module.handler).toBeTypeOf('function');
  });
});
