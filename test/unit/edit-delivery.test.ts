/** Edits and deletes on their way out: queue bodies, fan-out pushes, and the versions pages show. */
import { Logger } from '@aws-lambda-powertools/logger';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type FanoutDeps, processRecord } from '../../lambdas/fanout/fanout';
import { createDisconnector, createPoster } from '../../shared/poster';
import type { ChatMessage } from '../../shared/protocol';
import { encodeQueueBody, parseQueueBody } from '../../shared/queue-body';
import { messagesAfter } from '../../shared/store/messages';
import {
  apiMock,
  ddb,
  ddbMock,
  NOW,
  SENT_AT,
  sqs,
  sqsMock,
  useEditFunctionMocks,
} from './fakes/edit-function';

useEditFunctionMocks();

describe('queue bodies', () => {
  const message: ChatMessage = {
    conversationId: 'c1',
    seq: 7,
    senderId: 'alice',
    body: 'hi 👋',
    sentAt: SENT_AT,
  };

  it('still reads a bare ChatMessage, the body every message had before edits existed', () => {
    expect(parseQueueBody(encodeQueueBody(message))).toEqual({ ok: true, record: message });
  });

  it('reads edit and delete events', () => {
    const edit = { kind: 'edit', conversationId: 'c1', seq: 7, body: 'é', editedAt: SENT_AT, version: 1 };
    const del = { kind: 'delete', conversationId: 'c1', seq: 7, deletedAt: SENT_AT, version: 2 };
    expect(parseQueueBody(encodeQueueBody(edit))).toEqual({ ok: true, record: edit });
    expect(parseQueueBody(encodeQueueBody(del))).toEqual({ ok: true, record: del });
  });

  it.each([
    ['an unknown kind', { kind: 'constructor', conversationId: 'c1', seq: 7 }, /unknown record kind/],
    [
      'an edit without a version',
      { kind: 'edit', conversationId: 'c1', seq: 7, body: 'x', editedAt: SENT_AT },
      /edit event.*version/,
    ],
    [
      'a delete with a body',
      { kind: 'delete', conversationId: 'c1', seq: 7, deletedAt: SENT_AT, version: 1, body: 'x' },
      /delete event/,
    ],
  ])('refuses %s with a reason', (_case, body, reason) => {
    const parsed = parseQueueBody(JSON.stringify(body));
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.reason).toMatch(reason);
  });
});
describe('fan-out of edit and delete records', () => {
  const fanoutDeps = (): FanoutDeps => ({
    ddb,
    sqs,
    tables: { connections: 'connections-t', subscriptions: 'subscriptions-t' },
    deadLetterQueueUrl: 'https://sqs.local/000000000000/fanout-dlq.fifo',
    post: createPoster({
      client: new ApiGatewayManagementApiClient({}),
      sleep: async () => {},
      random: () => 0.5,
      options: { maxAttempts: 2 },
    }),
    disconnect: createDisconnector(new ApiGatewayManagementApiClient({})),
    metrics: { record: vi.fn() },
    logger: new Logger({ serviceName: 'chat-fanout-test', logLevel: 'SILENT' }),
  });

  const record = (body: unknown, dedupId: string): SQSRecord => ({
    messageId: dedupId,
    receiptHandle: `rh-${dedupId}`,
    body: encodeQueueBody(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'sender',
      ApproximateFirstReceiveTimestamp: '0',
      MessageGroupId: 'c1',
      MessageDeduplicationId: dedupId,
      SequenceNumber: '1',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:000000000000:fanout.fifo',
    awsRegion: 'eu-west-1',
  });

  const posted = (): unknown[] =>
    apiMock.commandCalls(PostToConnectionCommand).map((call) => JSON.parse(String(call.args[0].input.Data)));

  beforeEach(() => {
    ddbMock.on(QueryCommand).resolves({ Items: [{ connectionId: 'conn-bob' }] });
    apiMock.on(PostToConnectionCommand).resolves({});
    apiMock.on(DeleteConnectionCommand).resolves({});
  });

  it('pushes a message record as a message frame, an edit as edited and a delete as deleted, in record order', async () => {
    // Prepare
    const message = { conversationId: 'c1', seq: 7, senderId: 'alice', body: 'hi', sentAt: SENT_AT };
    const edit = {
      kind: 'edit',
      conversationId: 'c1',
      seq: 7,
      body: 'hi!',
      editedAt: NOW.toISOString(),
      version: 1,
    };
    const del = { kind: 'delete', conversationId: 'c1', seq: 7, deletedAt: NOW.toISOString(), version: 2 };

    // Act
    for (const [body, id] of [
      [message, 'c1:7'],
      [edit, 'c1:7:v1'],
      [del, 'c1:7:v2'],
    ] as const) {
      await processRecord(fanoutDeps(), record(body, id));
    }

    // Assess
    expect(posted()).toEqual([
      { type: 'message', ...message },
      { type: 'edited', conversationId: 'c1', seq: 7, body: 'hi!', editedAt: NOW.toISOString(), version: 1 },
      { type: 'deleted', conversationId: 'c1', seq: 7, deletedAt: NOW.toISOString(), version: 2 },
    ]);
  });

  it("pushes a room message's viewer count with it, and reads a record without one as before", async () => {
    // Prepare
    const message = { conversationId: 'c1', seq: 8, senderId: 'alice', body: 'hi', sentAt: SENT_AT };

    // Act
    await processRecord(fanoutDeps(), record({ ...message, viewers: 1234 }, 'c1:8'));

    // Assess
    expect(posted()).toEqual([{ type: 'message', ...message, viewers: 1234 }]);
    expect(parseQueueBody(encodeQueueBody(message))).toEqual({ ok: true, record: message });
  });

  it('moves a malformed edit record to the dead-letter queue instead of pushing it', async () => {
    // Act
    await processRecord(fanoutDeps(), record({ kind: 'edit', conversationId: 'c1', seq: 7 }, 'bad'));

    // Assess
    expect(apiMock).not.toHaveReceivedCommand(PostToConnectionCommand);
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, {
      QueueUrl: 'https://sqs.local/000000000000/fanout-dlq.fifo',
      MessageGroupId: 'c1',
    });
  });
});
describe('pages show the latest version', () => {
  it('returns an edited message with its new body, editedAt and version, and a deleted one without its body', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({
      Items: [
        {
          conversationId: 'c1',
          seq: 1,
          senderId: 'alice',
          body: 'v2',
          sentAt: SENT_AT,
          editedAt: NOW.toISOString(),
          version: 2,
          clientMessageId: 'm1',
        },
        {
          conversationId: 'c1',
          seq: 2,
          senderId: 'alice',
          sentAt: SENT_AT,
          deleted: true,
          deletedAt: NOW.toISOString(),
          version: 1,
          clientMessageId: 'm2',
        },
      ],
    });

    // Act
    const page = await messagesAfter(
      ddb,
      { messages: 'messages-t' },
      'c1',
      0,
      {
        now: NOW,
        lastSeq: 2,
        lastReservedAt: SENT_AT,
      },
      { record: vi.fn() },
    );

    // Assess
    expect(page.messages).toEqual([
      {
        conversationId: 'c1',
        seq: 1,
        senderId: 'alice',
        body: 'v2',
        sentAt: SENT_AT,
        editedAt: NOW.toISOString(),
        version: 2,
      },
      {
        conversationId: 'c1',
        seq: 2,
        tombstone: true,
        deleted: true,
        senderId: 'alice',
        deletedAt: NOW.toISOString(),
        version: 1,
      },
    ]);
  });
});
