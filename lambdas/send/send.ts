/**
 * The `send` route: store a message under the next gap-free seq of its conversation (G2), remember its
 * clientMessageId (G3), enqueue it for fan-out, and only then ack (G1).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { type BackoffPolicy, fullJitterDelay } from '../../shared/backoff';
import { isAwsError, NotAMemberError, SequenceConflictError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { type ChatMessage, type SendFrame, sendFrameSchema } from '../../shared/protocol';
import { requireMember } from '../../shared/store/conversations';
import { getMessage } from '../../shared/store/messages';
import { META_SK, memberSk, type TableNames, TTL_ATTRIBUTE } from '../../shared/tables';
import {
  type Caller,
  createRouteHandler,
  type RouteEvent,
  type RouteResult,
  route,
} from '../../shared/websocket';

export type SendTables = Pick<TableNames, 'conversations' | 'messages' | 'idempotency'>;

/** Backoff of the seq allocation loop. Many senders may contend for one conversation's counter. */
export interface RetryPolicy extends BackoffPolicy {
  maxAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 30, baseDelayMs: 10, maxDelayMs: 200 };

export interface SendDeps {
  ddb: DynamoDBDocumentClient;
  sqs: SQSClient;
  tables: SendTables;
  fanoutQueueUrl: string;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  /** Uniform in [0, 1), like Math.random; drives the backoff jitter. */
  random: () => number;
  logger: Pick<Logger, 'appendKeys' | 'info' | 'warn'>;
  /** @default DEFAULT_RETRY_POLICY */
  retry?: RetryPolicy;
}

/** The ack payload of `send`. A duplicate carries the seq and sentAt of the original message. */
export interface SendAck {
  conversationId: string;
  seq: number;
  sentAt: string;
  duplicate: boolean;
}

interface IdempotencyRecord {
  seq: number;
  sentAt: string;
}

/** Positions of the items in the allocation transaction; CancellationReasons are reported by index. */
const TX = { counter: 0, message: 1, idempotency: 2, member: 3 } as const;

/** Same conversation, same sender, same clientMessageId: one message, whatever the number of retries. */
export const idempotencyKeyOf = (conversationId: string, senderId: string, clientMessageId: string): string =>
  `${conversationId}#${senderId}#${clientMessageId}`;

/**
 * Puts a stored message on the FIFO fan-out queue. The group keeps one conversation's messages in
 * enqueue order, which is not always seq order: two senders may enqueue seq 6 before seq 5, so clients
 * order by seq. The dedup id makes a re-enqueue within SQS's 5-minute window a no-op: a retry whose
 * first enqueue did get in (only the ack was lost) is not fanned out twice, while one whose first
 * enqueue failed gets in now.
 */
export async function enqueueMessage(sqs: SQSClient, queueUrl: string, message: ChatMessage): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageGroupId: message.conversationId,
      MessageDeduplicationId: `${message.conversationId}:${message.seq}`,
      MessageBody: JSON.stringify(message),
    }),
  );
}

async function readIdempotency(deps: SendDeps, key: string): Promise<IdempotencyRecord | undefined> {
  const { Item } = await deps.ddb.send(
    new GetCommand({
      TableName: deps.tables.idempotency,
      Key: { idempotencyKey: key },
      ConsistentRead: true,
    }),
  );
  if (Item === undefined) return undefined;
  if (typeof Item.seq !== 'number' || typeof Item.sentAt !== 'string') {
    throw new Error(`Idempotency item ${key} has no numeric seq or string sentAt`);
  }
  return { seq: Item.seq, sentAt: Item.sentAt };
}

/** Re-enqueues the original message so that a fan-out lost after the first attempt is repaired. */
async function replayDuplicate(
  deps: SendDeps,
  conversationId: string,
  original: IdempotencyRecord,
): Promise<SendAck> {
  deps.logger.appendKeys({ seq: original.seq });
  const message = await getMessage(deps.ddb, deps.tables, conversationId, original.seq);
  // The transaction writes both items together, so a missing message means the tables were tampered with.
  if (message === undefined) throw new Error(`Message ${conversationId}:${original.seq} is missing`);
  await enqueueMessage(deps.sqs, deps.fanoutQueueUrl, message);
  deps.logger.info('Duplicate send re-enqueued');
  return { conversationId, seq: original.seq, sentAt: original.sentAt, duplicate: true };
}

async function readLastSeq(deps: SendDeps, conversationId: string): Promise<number> {
  const { Item } = await deps.ddb.send(
    new GetCommand({
      TableName: deps.tables.conversations,
      Key: { conversationId, sk: META_SK },
      ConsistentRead: true,
      ProjectionExpression: 'lastSeq',
    }),
  );
  if (Item === undefined) throw new NotAMemberError(conversationId);
  if (typeof Item.lastSeq !== 'number')
    throw new Error(`Conversation ${conversationId} has no numeric lastSeq`);
  return Item.lastSeq;
}

type AllocationOutcome = 'stored' | 'duplicate' | 'notMember' | 'contended';

/** Reads the per-item cancellation codes of a TransactionCanceledException; undefined for other errors. */
function cancellationCodes(err: unknown): (string | undefined)[] | undefined {
  if (!isAwsError(err, 'TransactionCanceledException')) return undefined;
  const reasons: unknown = (err as { CancellationReasons?: unknown }).CancellationReasons;
  if (!Array.isArray(reasons)) return [];
  return reasons.map((reason: unknown) =>
    typeof reason === 'object' && reason !== null && 'Code' in reason && typeof reason.Code === 'string'
      ? reason.Code
      : undefined,
  );
}

/** Classifies a cancelled allocation. A lost idempotency race wins over everything: the message exists. */
function outcomeOf(codes: (string | undefined)[]): AllocationOutcome | undefined {
  if (codes[TX.idempotency] === 'ConditionalCheckFailed') return 'duplicate';
  if (codes[TX.member] === 'ConditionalCheckFailed') return 'notMember';
  if (codes[TX.counter] === 'ConditionalCheckFailed' || codes.includes('TransactionConflict')) {
    return 'contended';
  }
  return undefined;
}

/**
 * Writes the message under `expected + 1` in one transaction: the counter advances only if nobody else
 * advanced it since it was read, the idempotency item only appears once, and the sender must still be
 * a member at commit time.
 */
async function tryAllocate(
  deps: SendDeps,
  message: ChatMessage,
  expected: number,
  clientMessageId: string,
  idempotencyKey: string,
): Promise<AllocationOutcome> {
  const { conversationId, seq, senderId, sentAt } = message;
  const expiresAt = Math.floor(Date.parse(sentAt) / 1000) + LIMITS.idempotencyTtlSeconds;
  const items = [
    {
      Update: {
        TableName: deps.tables.conversations,
        Key: { conversationId, sk: META_SK },
        UpdateExpression: 'SET lastSeq = :next, lastMessageAt = :sentAt, lastSenderId = :senderId',
        ConditionExpression: 'lastSeq = :expected',
        ExpressionAttributeValues: {
          ':next': seq,
          ':expected': expected,
          ':sentAt': sentAt,
          ':senderId': senderId,
        },
      },
    },
    {
      Put: {
        TableName: deps.tables.messages,
        Item: { ...message, clientMessageId },
        ConditionExpression: 'attribute_not_exists(conversationId)',
      },
    },
    {
      Put: {
        TableName: deps.tables.idempotency,
        Item: { idempotencyKey, conversationId, seq, sentAt, [TTL_ATTRIBUTE]: expiresAt },
        ConditionExpression: 'attribute_not_exists(idempotencyKey)',
      },
    },
    {
      ConditionCheck: {
        TableName: deps.tables.conversations,
        Key: { conversationId, sk: memberSk(senderId) },
        ConditionExpression: 'attribute_exists(conversationId)',
      },
    },
  ];
  try {
    await deps.ddb.send(new TransactWriteCommand({ TransactItems: items }));
    return 'stored';
  } catch (err: unknown) {
    const codes = cancellationCodes(err);
    const outcome = codes === undefined ? undefined : outcomeOf(codes);
    if (outcome === undefined) throw err;
    return outcome;
  }
}

/**
 * Stores and enqueues one message and returns its ack. Resolves only after both the DynamoDB
 * transaction and SendMessage succeeded (G1); any failure rejects, so the client resends with the same
 * clientMessageId and lands on the duplicate path, which re-enqueues (G3).
 * @throws NotAMemberError when the sender is not (or no longer) a member.
 * @throws SequenceConflictError when the counter stayed contended through every attempt.
 */
export async function sendMessage(deps: SendDeps, frame: SendFrame, caller: Caller): Promise<SendAck> {
  const { conversationId, clientMessageId, body } = frame;
  const senderId = caller.userId;
  const policy = deps.retry ?? DEFAULT_RETRY_POLICY;
  deps.logger.appendKeys({ conversationId });

  const idempotencyKey = idempotencyKeyOf(conversationId, senderId, clientMessageId);
  const earlier = await readIdempotency(deps, idempotencyKey);
  if (earlier !== undefined) return replayDuplicate(deps, conversationId, earlier);

  // The transaction re-checks membership at commit; this read keeps non-members away from the
  // conversation's counter item, where their cancelled transactions would cost write capacity and
  // cause TransactionConflict for the members' sends.
  await requireMember(deps.ddb, deps.tables, conversationId, senderId);

  for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
    const expected = await readLastSeq(deps, conversationId);
    const message: ChatMessage = {
      conversationId,
      seq: expected + 1,
      senderId,
      body,
      sentAt: deps.now().toISOString(),
    };
    const outcome = await tryAllocate(deps, message, expected, clientMessageId, idempotencyKey);
    switch (outcome) {
      case 'stored':
        deps.logger.appendKeys({ seq: message.seq });
        await enqueueMessage(deps.sqs, deps.fanoutQueueUrl, message);
        deps.logger.info('Message stored and enqueued', { attempts: attempt });
        return { conversationId, seq: message.seq, sentAt: message.sentAt, duplicate: false };
      case 'duplicate': {
        const winner = await readIdempotency(deps, idempotencyKey);
        if (winner === undefined)
          throw new Error(`Idempotency item ${idempotencyKey} vanished after a conflict`);
        return replayDuplicate(deps, conversationId, winner);
      }
      case 'notMember':
        throw new NotAMemberError(conversationId);
      case 'contended':
        if (attempt < policy.maxAttempts) await deps.sleep(fullJitterDelay(attempt, deps.random, policy));
    }
  }
  deps.logger.warn('Sequence counter stayed contended', { attempts: policy.maxAttempts });
  throw new SequenceConflictError(conversationId, policy.maxAttempts);
}

/**
 * Builds the Lambda handler of the `send` route from its dependencies; `handler.ts` passes real
 * clients, tests pass mocked ones.
 */
export function createSendHandler(
  deps: SendDeps & { logger: Logger },
): (event: RouteEvent) => Promise<RouteResult> {
  return createRouteHandler(deps.logger, {
    send: route({
      schema: sendFrameSchema,
      run: async (frame, caller) => ({ ...(await sendMessage(deps, frame, caller)) }),
    }),
  });
}
