/**
 * The `send` route: store a message under the next gap-free seq of its conversation (G2), remember its
 * clientMessageId (G3), enqueue it for fan-out, and only then ack (G1). No step waits for other
 * senders, and each is one request (step 1 a second one when its guess of the sender's bucket was
 * wrong), so a burst into one conversation costs per message what one sender costs (G9):
 *
 * 1. UpdateItem of the sender's member item: they are a member and take a token of their send rate
 *    (shared/store/send-bucket.ts); non-members and senders over the rate write nothing.
 * 2. PutItem: claim the clientMessageId (conditional). A finished claim is a retry: re-enqueue and ack
 *    the original seq. A live claim is the same message still in flight: answer `busy`, adding no work.
 * 3. UpdateItem: reserve the next seq with an atomic `ADD lastSeq 1` on the counter (no read, no retry).
 * 4. TransactWriteItems: store the message under that seq (only if the slot is empty) and mark the
 *    claim done with the seq (only if it is still ours).
 * 5. SendMessage to the FIFO queue, then ack.
 *
 * A writer that dies between 3 and 4 leaves a hole, which the first reader past the writer lease fills
 * with a tombstone (shared/store/messages.ts); a writer that comes back after that finds its slot taken
 * and reserves again. README "How a message gets its seq" walks through every failure case.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { AdmissionGate } from '../../shared/admission';
import { BusyError, ConflictError, cancellationReasons, isAwsError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import {
  type ChatMessage,
  deleteFrameSchema,
  editFrameSchema,
  isTombstone,
  type SendAck,
  type SendFrame,
  sendFrameSchema,
} from '../../shared/protocol';
import { itemOfFailedCondition } from '../../shared/store/conditions';
import { reserveSeq } from '../../shared/store/conversations';
import { enqueue } from '../../shared/store/fanout-queue';
import { fillHole, getEntry } from '../../shared/store/messages';
import { BucketHints, takeSendToken } from '../../shared/store/send-bucket';
import { type TableNames, TTL_ATTRIBUTE } from '../../shared/tables';
import {
  type Caller,
  createRouteHandler,
  type InvocationContext,
  OUT_OF_TIME_RETRY_MS,
  type RouteEvent,
  type RouteResult,
  route,
} from '../../shared/websocket';
import { deleteMessage, editMessage } from './edit';

export type SendTables = Pick<TableNames, 'conversations' | 'messages' | 'idempotency'>;

export interface SendDeps {
  ddb: DynamoDBDocumentClient;
  sqs: SQSClient;
  tables: SendTables;
  fanoutQueueUrl: string;
  now: () => Date;
  logger: Pick<Logger, 'appendKeys' | 'info' | 'warn'>;
  /** Makes the token that tells this attempt's claim from another's. @default crypto.randomUUID */
  newClaimToken?: () => string;
  /** What this execution environment knows of send buckets; createSendHandler keeps one. */
  bucketHints?: BucketHints;
}

/** Time a send must have left before it reserves a seq, so it can store what it reserved. */
export const MIN_SEND_BUDGET_MS = 3_000;

/**
 * Sends in progress at once in one execution environment, and how long one may wait for a place before
 * it is answered `busy` (shared/admission.ts). On Lambda one invocation runs per environment, so only
 * the local runtime, where every invocation shares a process, ever waits.
 */
export const SEND_ADMISSION = { maxInFlight: 40, maxWaitMs: 2_500 } as const;

/** Reservations one send may make when readers keep filling its slots (it was slower than the lease). */
const MAX_RESERVATIONS = 3;

/** How long to wait when DynamoDB or SQS throttle: long enough for a partition to recover. */
export const THROTTLED_RETRY_MS = 1_000;

/** The least a client waits before asking again about a message still in flight. */
const IN_FLIGHT_RETRY_MIN_MS = 250;

/**
 * The most: the first attempt's ack reaches the connection that sent it, but a client that reconnected
 * meanwhile only learns the outcome by asking again.
 */
const IN_FLIGHT_RETRY_MAX_MS = 5_000;

/** Throttling errors of DynamoDB and SQS, after the SDK's own retries. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'TransactionConflictException',
]);

/** Positions of the items in the commit transaction; CancellationReasons are reported by index. */
const TX = { message: 0, claim: 1 } as const;

/** Attempts of one commit that keeps meeting a concurrent transaction on its two items. */
const COMMIT_ATTEMPTS = 3;

/** Same conversation, same sender, same clientMessageId: one message, whatever the number of retries. */
export const idempotencyKeyOf = (conversationId: string, senderId: string, clientMessageId: string): string =>
  `${conversationId}#${senderId}#${clientMessageId}`;

/**
 * What a clientMessageId stands for: a digest of the body and attachment, kept on the claim so that a
 * resend carrying other content is refused rather than acked as the message it is not.
 */
export const contentDigestOf = (frame: Pick<SendFrame, 'body' | 'attachment'>): string => {
  const { attachment } = frame;
  const content = [frame.body, attachment?.key, attachment?.contentType, attachment?.size];
  return createHash('sha256').update(JSON.stringify(content)).digest('base64url').slice(0, 22);
};

/** The idempotency item: a live claim (no seq yet) or a finished send (with its seq). */
interface IdempotencyItem {
  /** contentDigestOf the message; absent on claims written before it was kept. */
  contentDigest?: string;
  claimToken?: string;
  claimedAt?: number;
  seq?: number;
  sentAt?: string;
}

type ClaimOutcome =
  | { kind: 'claimed' }
  | { kind: 'finished'; seq: number; sentAt: string }
  | { kind: 'inFlight'; retryAfterMs: number }
  | { kind: 'conflict' };

/** The item a failed conditional write returned, or a consistent read of it when none came back. */
async function existingClaim(
  deps: SendDeps,
  key: string,
  err: ConditionalCheckFailedException,
  signal: AbortSignal,
): Promise<IdempotencyItem | undefined> {
  const returned = itemOfFailedCondition<IdempotencyItem>(err);
  if (returned !== undefined) return returned;
  const { Item } = await deps.ddb.send(
    new GetCommand({
      TableName: deps.tables.idempotency,
      Key: { idempotencyKey: key },
      ConsistentRead: true,
    }),
    { abortSignal: signal },
  );
  return Item as IdempotencyItem | undefined;
}

/**
 * Claims the clientMessageId for this attempt. A claim whose lease ran out belongs to an invocation that
 * is no longer running, so this attempt takes it over (conditionally, so only one resend can).
 */
async function claim(
  deps: SendDeps,
  key: string,
  conversationId: string,
  contentDigest: string,
  token: string,
  signal: AbortSignal,
): Promise<ClaimOutcome> {
  const now = deps.now().getTime();
  try {
    await deps.ddb.send(
      new PutCommand({
        TableName: deps.tables.idempotency,
        Item: {
          idempotencyKey: key,
          conversationId,
          contentDigest,
          claimToken: token,
          claimedAt: now,
          [TTL_ATTRIBUTE]: Math.floor(now / 1000) + LIMITS.idempotencyTtlSeconds,
        },
        ConditionExpression: 'attribute_not_exists(idempotencyKey)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
      { abortSignal: signal },
    );
    return { kind: 'claimed' };
  } catch (err: unknown) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
    const existing = await existingClaim(deps, key, err, signal);
    // Released a moment ago by an attempt that gave up: the next try will find the key free or taken.
    if (existing === undefined) return { kind: 'inFlight', retryAfterMs: IN_FLIGHT_RETRY_MIN_MS };
    if (existing.contentDigest !== undefined && existing.contentDigest !== contentDigest)
      return { kind: 'conflict' };
    if (typeof existing.seq === 'number' && typeof existing.sentAt === 'string') {
      return { kind: 'finished', seq: existing.seq, sentAt: existing.sentAt };
    }
    const leaseLeft = (existing.claimedAt ?? 0) + LIMITS.writerLeaseMs - now;
    // The first attempt will answer on its own; only if it died does a resend after its lease help.
    if (leaseLeft > 0) {
      const retryAfterMs = Math.min(IN_FLIGHT_RETRY_MAX_MS, Math.max(IN_FLIGHT_RETRY_MIN_MS, leaseLeft));
      return { kind: 'inFlight', retryAfterMs };
    }
    return takeOver(deps, key, existing.claimToken, token, now, signal);
  }
}

async function takeOver(
  deps: SendDeps,
  key: string,
  staleToken: string | undefined,
  token: string,
  now: number,
  signal: AbortSignal,
): Promise<ClaimOutcome> {
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.idempotency,
        Key: { idempotencyKey: key },
        UpdateExpression: 'SET claimToken = :token, claimedAt = :now',
        ConditionExpression: 'claimToken = :stale AND attribute_not_exists(seq)',
        ExpressionAttributeValues: { ':token': token, ':now': now, ':stale': staleToken ?? '' },
      }),
      { abortSignal: signal },
    );
    deps.logger.warn('Took over the claim of a send whose writer is gone');
    return { kind: 'claimed' };
  } catch (err: unknown) {
    // Another resend took it over (or the original finished) a moment ago.
    if (isAwsError(err, 'ConditionalCheckFailedException')) {
      return { kind: 'inFlight', retryAfterMs: IN_FLIGHT_RETRY_MIN_MS };
    }
    throw err;
  }
}

/** Gives the claim back so a resend can start at once; only this attempt's own claim, only if unfinished. */
async function releaseClaim(deps: SendDeps, key: string, token: string): Promise<void> {
  try {
    await deps.ddb.send(
      new DeleteCommand({
        TableName: deps.tables.idempotency,
        Key: { idempotencyKey: key },
        ConditionExpression: 'claimToken = :token AND attribute_not_exists(seq)',
        ExpressionAttributeValues: { ':token': token },
      }),
    );
  } catch (err: unknown) {
    // Not ours any more, or not reachable: the lease frees it anyway.
    deps.logger.warn('Could not release a send claim', { error: err instanceof Error ? err.message : err });
  }
}

type CommitOutcome = 'stored' | 'slotTaken' | 'claimLost' | 'conflict' | 'throttled';

/** Cancellation reasons of a transaction that DynamoDB throttled. */
const TRANSACTION_THROTTLING = new Set([
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);

/**
 * Stores the message under its reserved seq and marks the claim finished, in one transaction. Both items
 * are this message's own, so concurrent senders never conflict here, whatever their number. Membership
 * was checked when the send began: a member removed while their send is in flight may still have that
 * one message stored, under a seq reserved while they were a member.
 */
async function commit(
  deps: SendDeps,
  message: ChatMessage,
  clientMessageId: string,
  key: string,
  token: string,
  signal: AbortSignal,
): Promise<CommitOutcome> {
  const { seq, sentAt } = message;
  try {
    await deps.ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: deps.tables.messages,
              Item: { ...message, clientMessageId },
              ConditionExpression: 'attribute_not_exists(conversationId)',
            },
          },
          {
            Update: {
              TableName: deps.tables.idempotency,
              Key: { idempotencyKey: key },
              UpdateExpression: 'SET seq = :seq, sentAt = :sentAt',
              ConditionExpression: 'claimToken = :token AND attribute_not_exists(seq)',
              ExpressionAttributeValues: { ':seq': seq, ':sentAt': sentAt, ':token': token },
            },
          },
        ],
      }),
      { abortSignal: signal },
    );
    return 'stored';
  } catch (err: unknown) {
    const codes = cancellationReasons(err)?.map((reason) => reason.Code);
    if (codes === undefined) throw err;
    if (codes[TX.claim] === 'ConditionalCheckFailed') return 'claimLost';
    if (codes[TX.message] === 'ConditionalCheckFailed') return 'slotTaken';
    // Both items belong to this message alone, so a conflict is a reader filling the slot or a resend
    // taking the claim over at this very moment: the next attempt sees which.
    if (codes.includes('TransactionConflict')) return 'conflict';
    if (codes.some((code) => code !== undefined && TRANSACTION_THROTTLING.has(code))) return 'throttled';
    throw err;
  }
}

/**
 * Re-enqueues the original message so that a fan-out lost after the first attempt is repaired; a message
 * its sender deleted since is not pushed again.
 */
async function replayDuplicate(
  deps: SendDeps,
  conversationId: string,
  original: { seq: number; sentAt: string },
  signal: AbortSignal,
): Promise<SendAck> {
  deps.logger.appendKeys({ seq: original.seq });
  const entry = await getEntry(deps.ddb, deps.tables, conversationId, original.seq, signal);
  // The commit writes both items together, so a missing message means the tables were tampered with.
  if (entry === undefined || (isTombstone(entry) && !('deleted' in entry))) {
    throw new Error(`Message ${conversationId}:${original.seq} is missing`);
  }
  if (!isTombstone(entry)) await enqueue(deps.sqs, deps.fanoutQueueUrl, entry, signal);
  deps.logger.info('Duplicate send answered');
  return { conversationId, seq: original.seq, sentAt: original.sentAt, duplicate: true };
}

/**
 * Reserves a seq and stores the claimed message under it. A slot filled by a reader (this writer was
 * slower than the lease) is given up for a fresh reservation. A seq this writer reserved but cannot use
 * is filled with a tombstone by the writer itself, at once.
 */
async function storeClaimed(
  deps: SendDeps,
  frame: SendFrame,
  caller: Caller,
  key: string,
  token: string,
): Promise<ChatMessage> {
  const { conversationId, clientMessageId, body } = frame;
  for (let reservation = 1; reservation <= MAX_RESERVATIONS; reservation++) {
    if (caller.deadline - deps.now().getTime() < MIN_SEND_BUDGET_MS) {
      throw new BusyError('Too little time was left to store the message', MIN_SEND_BUDGET_MS);
    }
    const seq = await reserveSeq(deps, conversationId, deps.now().toISOString(), caller.signal);
    deps.logger.appendKeys({ seq });
    // sentAt is taken after the reservation: readers rely on it being later than the seq's reservation.
    const message: ChatMessage = {
      conversationId,
      seq,
      senderId: caller.userId,
      body,
      sentAt: deps.now().toISOString(),
      ...(frame.attachment === undefined ? {} : { attachment: frame.attachment }),
    };
    let outcome: CommitOutcome;
    try {
      outcome = await commit(deps, message, clientMessageId, key, token, caller.signal);
      for (let attempt = 2; outcome === 'conflict' && attempt <= COMMIT_ATTEMPTS; attempt++) {
        outcome = await commit(deps, message, clientMessageId, key, token, caller.signal);
      }
    } catch (err: unknown) {
      // The commit failed (throttled, out of time, unreachable) with a seq reserved: fill it now rather
      // than let every reader wait a lease for it. If the commit did land after all, the fill finds the
      // slot taken and does nothing.
      await fillHole(deps.ddb, deps.tables, conversationId, seq, deps.now()).catch(() => false);
      throw err;
    }
    if (outcome === 'stored') return message;
    if (outcome === 'slotTaken') {
      deps.logger.warn('A reader filled the reserved seq; reserving again', { reservation });
      continue;
    }
    // This writer reserved the seq and cannot use it: it fills the hole itself, at once.
    await fillHole(deps.ddb, deps.tables, conversationId, seq, deps.now());
    if (outcome === 'conflict') throw new BusyError('The message kept conflicting', THROTTLED_RETRY_MS);
    if (outcome === 'throttled') throw new BusyError('The conversation is saturated', THROTTLED_RETRY_MS);
    throw new BusyError('A later attempt of this message took it over', IN_FLIGHT_RETRY_MIN_MS);
  }
  throw new BusyError('The conversation kept taking the reserved seqs', THROTTLED_RETRY_MS);
}

/** The route's deadline passed (its abort signal fired) or the runtime stopped the invocation. */
const isOutOfTime = (err: unknown): boolean =>
  err instanceof Error && (err.name === 'AbortError' || err.name === 'InvocationStoppedError');

/** Throttling and running out of time are `busy`: safe to resend after a pause. */
function asBusy(err: unknown): unknown {
  if (err instanceof Error && THROTTLING.has(err.name)) {
    return new BusyError('The conversation is saturated', THROTTLED_RETRY_MS);
  }
  if (isOutOfTime(err)) return new BusyError('The request ran out of time', OUT_OF_TIME_RETRY_MS);
  return err;
}

const rethrowAsBusy = (err: unknown): never => {
  throw asBusy(err);
};

/**
 * Stores and enqueues one message and returns its ack. Resolves only after both the message is stored
 * and SendMessage succeeded (G1); any failure rejects, so the client resends with the same
 * clientMessageId and lands on the duplicate path, which re-enqueues (G3).
 * @throws NotAMemberError when the sender is not (or no longer) a member.
 * @throws RateLimitedError when the sender is over their send rate in this conversation.
 * @throws ConflictError when the clientMessageId already stands for a message with other content.
 * @throws BusyError when the same message is in flight, the conversation is saturated, or time ran out.
 */
export async function sendMessage(deps: SendDeps, frame: SendFrame, caller: Caller): Promise<SendAck> {
  const { conversationId, clientMessageId } = frame;
  const { signal } = caller;
  deps.logger.appendKeys({ conversationId });
  const key = idempotencyKeyOf(conversationId, caller.userId, clientMessageId);
  const token = (deps.newClaimToken ?? randomUUID)();
  let stored: ChatMessage | undefined;
  try {
    // Non-members and senders over their rate are stopped before they write anything, even a claim.
    await takeSendToken(
      deps,
      deps.bucketHints ?? new BucketHints(),
      conversationId,
      caller.userId,
      () => deps.now().getTime(),
      signal,
    );
    const claimed = await claim(deps, key, conversationId, contentDigestOf(frame), token, signal);
    if (claimed.kind === 'finished') return await replayDuplicate(deps, conversationId, claimed, signal);
    if (claimed.kind === 'conflict') {
      throw new ConflictError(
        `clientMessageId ${clientMessageId} was already used for another message in this conversation; ` +
          'give each new message an id of its own',
      );
    }
    if (claimed.kind === 'inFlight') {
      throw new BusyError(
        'An earlier attempt of this message is still being stored, and its ack goes to the connection that sent it',
        claimed.retryAfterMs,
      );
    }
    try {
      stored = await storeClaimed(deps, frame, caller, key, token);
    } finally {
      if (stored === undefined) await releaseClaim(deps, key, token);
    }
    await enqueue(deps.sqs, deps.fanoutQueueUrl, stored, signal);
    deps.logger.info('Message stored and enqueued');
    return { conversationId, seq: stored.seq, sentAt: stored.sentAt, duplicate: false };
  } catch (err: unknown) {
    throw asBusy(err);
  }
}

/**
 * Builds the Lambda handler of the `send`, `edit` and `delete` routes (./edit.ts) from its
 * dependencies; `handler.ts` passes real clients, tests pass mocked ones.
 */
export function createSendHandler(
  deps: SendDeps & { logger: Logger; admission?: AdmissionGate },
): (event: RouteEvent, context?: InvocationContext) => Promise<RouteResult> {
  const admission = deps.admission ?? new AdmissionGate({ maxInFlight: SEND_ADMISSION.maxInFlight });
  const sendDeps: SendDeps = { ...deps, bucketHints: deps.bucketHints ?? new BucketHints() };
  return createRouteHandler(
    deps.logger,
    {
      send: route({
        schema: sendFrameSchema,
        run: async (frame, caller) => {
          const budget = caller.deadline - deps.now().getTime() - MIN_SEND_BUDGET_MS;
          const release = await admission.enter(Math.min(SEND_ADMISSION.maxWaitMs, budget));
          try {
            return { ...(await sendMessage(sendDeps, frame, caller)) };
          } finally {
            release();
          }
        },
      }),
      // Three requests each and no reservation, so they skip the admission gate.
      edit: route({
        schema: editFrameSchema,
        run: async (frame, caller) => ({
          ...(await editMessage(sendDeps, frame, caller).catch(rethrowAsBusy)),
        }),
      }),
      delete: route({
        schema: deleteFrameSchema,
        run: async (frame, caller) => ({
          ...(await deleteMessage(sendDeps, frame, caller).catch(rethrowAsBusy)),
        }),
      }),
    },
    () => deps.now().getTime(),
  );
}
