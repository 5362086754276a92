/**
 * The idempotency table: one item per (conversation, sender, clientMessageId) says what a send of it
 * became. A send first claims the key (a live claim: its token, when it claimed, a digest of the
 * content), then marks the claim with the seq it reserved ({@link markClaim}) before it stores the
 * message there, so a resend always finds the message by the claim's seq. A claim whose writer died is
 * taken over after the writer lease; a send that gives up releases its claim so that a resend can start
 * at once.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { LIMITS } from '../limits';
import { type TableNames, TTL_ATTRIBUTE } from '../tables';
import { itemOfFailedCondition, updateIf } from './conditions';

export interface IdempotencyStore {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'idempotency'>;
}

/** The claim is this attempt's and names no seq yet, or the one given as `:seq`. */
const OURS_UNMARKED = 'claimToken = :token AND attribute_not_exists(seq)';
const OURS_AT_SEQ = 'claimToken = :token AND seq = :seq';

/** Same conversation, same sender, same clientMessageId: one message, whatever the number of retries. */
export const idempotencyKeyOf = (conversationId: string, senderId: string, clientMessageId: string): string =>
  `${conversationId}#${senderId}#${clientMessageId}`;

/** One attempt's claim of a key: the token that tells it from other attempts, and what it sends. */
export interface Claim {
  key: string;
  conversationId: string;
  /** A digest of the message's content: a resend with other content is a conflict, not a retry. */
  contentDigest: string;
  token: string;
}

/** The idempotency item: a live claim (no seq yet) or a finished send (with its seq). */
interface IdempotencyItem {
  /** The claim's contentDigest; absent on claims written before it was kept. */
  contentDigest?: string;
  claimToken?: string;
  claimedAt?: number;
  seq?: number;
  sentAt?: string;
}

/**
 * What claiming found: the key is this attempt's now (`tookOver` when it was a dead writer's), an earlier
 * attempt marked it with `seq` (stored there, or storing; `token` tells whose the claim is), another
 * attempt holds it unmarked for `leaseLeftMs` more (0 when it changed hands a moment ago), or the key
 * stands for other content.
 */
export type ClaimOutcome =
  | { kind: 'claimed'; tookOver: boolean }
  | { kind: 'finished'; seq: number; sentAt: string; token: string }
  | { kind: 'inFlight'; leaseLeftMs: number }
  | { kind: 'conflict' };

/** The item a failed conditional write returned, or a consistent read of it when none came back. */
async function existingClaim(
  store: IdempotencyStore,
  key: string,
  err: ConditionalCheckFailedException,
  signal: AbortSignal,
): Promise<IdempotencyItem | undefined> {
  const returned = itemOfFailedCondition<IdempotencyItem>(err);
  if (returned !== undefined) return returned;
  const { Item } = await store.ddb.send(
    new GetCommand({
      TableName: store.tables.idempotency,
      Key: { idempotencyKey: key },
      ConsistentRead: true,
    }),
    { abortSignal: signal },
  );
  return Item as IdempotencyItem | undefined;
}

/**
 * Claims the key for this attempt: one conditional put that returns the claim it collided with. A claim
 * whose lease ran out belongs to an invocation that is no longer running, so this attempt takes it over
 * (conditionally, so only one resend can).
 */
export async function claim(
  store: IdempotencyStore,
  attempt: Claim,
  now: number,
  signal: AbortSignal,
): Promise<ClaimOutcome> {
  const { key, conversationId, contentDigest, token } = attempt;
  try {
    await store.ddb.send(
      new PutCommand({
        TableName: store.tables.idempotency,
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
    return { kind: 'claimed', tookOver: false };
  } catch (err: unknown) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
    const existing = await existingClaim(store, key, err, signal);
    // Released a moment ago by an attempt that gave up: the next try will find the key free or taken.
    if (existing === undefined) return { kind: 'inFlight', leaseLeftMs: 0 };
    if (existing.contentDigest !== undefined && existing.contentDigest !== contentDigest)
      return { kind: 'conflict' };
    if (typeof existing.seq === 'number' && typeof existing.sentAt === 'string') {
      const { seq, sentAt } = existing;
      return { kind: 'finished', seq, sentAt, token: existing.claimToken ?? '' };
    }
    const leaseLeftMs = (existing.claimedAt ?? 0) + LIMITS.writerLeaseMs - now;
    // The first attempt will answer on its own; only if it died does a resend after its lease help.
    if (leaseLeftMs > 0) return { kind: 'inFlight', leaseLeftMs };
    return takeOver(store, attempt, existing.claimToken, undefined, now, signal);
  }
}

/**
 * Takes over a claim whose writer is gone: only from the token `staleToken`, and only while it is
 * unmarked (or still marked with `seq`), so one attempt at most succeeds.
 */
export async function takeOver(
  store: IdempotencyStore,
  attempt: Pick<Claim, 'key' | 'token'>,
  staleToken: string | undefined,
  seq: number | undefined,
  now: number,
  signal: AbortSignal,
): Promise<ClaimOutcome> {
  const outcome = await updateIf(
    store.ddb,
    {
      TableName: store.tables.idempotency,
      Key: { idempotencyKey: attempt.key },
      UpdateExpression: 'SET claimToken = :token, claimedAt = :now',
      ConditionExpression:
        seq === undefined
          ? 'claimToken = :stale AND attribute_not_exists(seq)'
          : 'claimToken = :stale AND seq = :seq',
      ExpressionAttributeValues: {
        ':token': attempt.token,
        ':now': now,
        ':stale': staleToken ?? '',
        ...(seq === undefined ? {} : { ':seq': seq }),
      },
    },
    signal,
  );
  // Refused: another resend took it over (or the original moved on) a moment ago.
  return outcome.applied ? { kind: 'claimed', tookOver: true } : { kind: 'inFlight', leaseLeftMs: 0 };
}

/**
 * Marks this attempt's claim with the seq it reserved, before the message is stored there: one
 * conditional UpdateItem (1 WCU), only if the claim is still this attempt's and unmarked, or marked with
 * `previousSeq` (a slot a reader filled, given up for a fresh one).
 * @returns false when the claim is no longer this attempt's (a resend took it over).
 */
export async function markClaim(
  store: IdempotencyStore,
  attempt: Pick<Claim, 'key' | 'token'>,
  sent: { seq: number; sentAt: string },
  previousSeq: number | undefined,
  signal: AbortSignal,
): Promise<boolean> {
  const outcome = await updateIf(
    store.ddb,
    {
      TableName: store.tables.idempotency,
      Key: { idempotencyKey: attempt.key },
      UpdateExpression: 'SET seq = :next, sentAt = :sentAt',
      ConditionExpression: previousSeq === undefined ? OURS_UNMARKED : OURS_AT_SEQ,
      ExpressionAttributeValues: {
        ':next': sent.seq,
        ':sentAt': sent.sentAt,
        ':token': attempt.token,
        ...(previousSeq === undefined ? {} : { ':seq': previousSeq }),
      },
    },
    signal,
  );
  return outcome.applied;
}

/**
 * Gives the claim back so a resend can start at once; only this attempt's own claim. The caller knows
 * that no message of this attempt is stored (the seq the claim may name holds none, and never will).
 * @throws the failure of the delete, a failed condition included (the claim is not this attempt's).
 */
export async function releaseClaim(
  store: IdempotencyStore,
  attempt: Pick<Claim, 'key' | 'token'>,
): Promise<void> {
  await store.ddb.send(
    new DeleteCommand({
      TableName: store.tables.idempotency,
      Key: { idempotencyKey: attempt.key },
      ConditionExpression: 'claimToken = :token',
      ExpressionAttributeValues: { ':token': attempt.token },
    }),
  );
}
