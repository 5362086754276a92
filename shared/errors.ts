/** Protocol error codes. Each domain error maps to exactly one of them, here and nowhere else. */
export type ErrorCode =
  | 'invalid_json'
  | 'unknown_action'
  | 'invalid_request'
  | 'payload_too_large'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'busy'
  | 'rate_limited'
  | 'limit_exceeded'
  | 'conflict'
  | 'connection_gone'
  | 'token_expired'
  | 'internal_error';

/** Base class of every error the client may see. `retryable` tells the client SDK whether to resend. */
export abstract class ChatError extends Error {
  abstract readonly code: ErrorCode;
  readonly retryable: boolean = false;
  /** When retryable: how long the client should wait before resending. */
  readonly retryAfterMs?: number;
}

export class InvalidJsonError extends ChatError {
  readonly code = 'invalid_json';
  constructor(reason = 'The frame is not valid JSON') {
    super(reason);
  }
}

export class UnknownActionError extends ChatError {
  readonly code = 'unknown_action';
  constructor(action: unknown) {
    super(
      typeof action === 'string'
        ? `Unknown action "${action.slice(0, 64)}"`
        : 'The frame has no "action" string field',
    );
  }
}

export class ValidationError extends ChatError {
  readonly code = 'invalid_request';
  constructor(readonly issues: string[]) {
    super(`Invalid request: ${issues.join('; ')}`);
  }
}

export class PayloadTooLargeError extends ChatError {
  readonly code = 'payload_too_large';
  constructor(what: string, limit: number) {
    super(`${what} is over the limit of ${limit} bytes`);
  }
}

export class UnauthorizedError extends ChatError {
  readonly code = 'unauthorized';
  constructor(reason = 'Missing or invalid token') {
    super(reason);
  }
}

/** Raised for non-members and unknown conversations alike, so the error is no existence oracle. */
export class NotAMemberError extends ChatError {
  readonly code = 'forbidden';
  constructor(conversationId: string) {
    super(`You are not a member of conversation ${conversationId}`);
  }
}

/**
 * No message to change at that seq: never stored (or still being stored), a dead writer's tombstone, or,
 * for an edit, deleted. Asked only of members, so it tells nothing that `history` does not.
 */
export class MessageNotFoundError extends ChatError {
  readonly code = 'not_found';
  constructor(conversationId: string, seq: number, reason = 'there is no message') {
    super(`Conversation ${conversationId} has no message to change at seq ${seq}: ${reason}`);
  }
}

/** The caller may not change this message: only its sender edits or deletes it. */
export class NotTheSenderError extends ChatError {
  readonly code = 'forbidden';
  constructor(seq: number) {
    super(`Only the sender of the message at seq ${seq} may edit or delete it`);
  }
}

/** Only an admin of the conversation (the creator is one) removes other members, promotes, or adds back a removed user. */
export class NotAnAdminError extends ChatError {
  readonly code = 'forbidden';
  constructor(conversationId: string, what = 'remove other members') {
    super(`Only the creator or an admin of conversation ${conversationId} may ${what}`);
  }
}

/**
 * The caller may not do this to that user: they blocked the caller. The words say no more than a
 * refusal, so a block is not announced to the one blocked.
 */
export class NotAllowedError extends ChatError {
  readonly code = 'forbidden';
}

/** A key names no attachment: nothing was uploaded (or confirmed) there, it expired, or it was deleted. */
export class AttachmentNotFoundError extends ChatError {
  readonly code = 'not_found';
  constructor(key: string, reason: string) {
    super(`No attachment at ${key}: ${reason}`);
  }
}

/**
 * A file is not what it claims (its type, size or first bytes), or a message names an attachment with
 * another size, type or uploader than the one stored. Nothing was written.
 */
export class AttachmentRejectedError extends ChatError {
  readonly code = 'invalid_request';
}

/** A documented limit (group size, subscriptions per connection, ...) would be exceeded; nothing was written. */
export class LimitExceededError extends ChatError {
  readonly code = 'limit_exceeded';
}

/**
 * The request names something that already stands for something else: a clientMessageId this sender
 * already used in this conversation for a message with another body or attachment. Nothing was written.
 */
export class ConflictError extends ChatError {
  readonly code = 'conflict';
}

/** The connection is gone: `$disconnect` (or a 410) already removed it, so it can subscribe to nothing. */
export class ConnectionGoneError extends ChatError {
  readonly code = 'connection_gone';
  override readonly retryable = true;
  constructor(connectionId: string) {
    super(`Connection ${connectionId} is closed; reconnect and subscribe again`);
  }
}

/**
 * The token the connection was opened with has expired (its `exp`, which the authorizer put in the
 * context): the frame was not run, and the connection is being closed. Not retryable on this connection:
 * the client reconnects with a fresh token and sends it again there.
 */
export class TokenExpiredError extends ChatError {
  readonly code = 'token_expired';
  constructor() {
    super('Your sign-in token has expired and this connection is closed; reconnect with a fresh token');
  }
}

/**
 * The request could not finish now, and nothing it did needs undoing: the conversation is saturated
 * (DynamoDB or SQS throttled), the same message is already being sent by an earlier attempt, or the
 * invocation ran out of time. Resending the same frame (same clientMessageId) after `retryAfterMs` is safe.
 */
export class BusyError extends ChatError {
  readonly code = 'busy';
  override readonly retryable = true;
  constructor(
    reason: string,
    override readonly retryAfterMs: number,
  ) {
    super(`${reason}; resend the same frame after ${retryAfterMs} ms`);
  }
}

/**
 * The caller is over a rate limit (messages per user per conversation, or frames per connection); nothing
 * was written. Resending after `retryAfterMs` succeeds if the caller slows down.
 */
export class RateLimitedError extends ChatError {
  readonly code = 'rate_limited';
  override readonly retryable = true;
  constructor(
    what: string,
    override readonly retryAfterMs: number,
  ) {
    super(`${what}; resend after ${retryAfterMs} ms`);
  }
}

/** Anything unexpected. The message never leaks internals; the requestId ties it to the logs. */
export class InternalError extends ChatError {
  readonly code = 'internal_error';
  override readonly retryable = true;
  constructor() {
    super('Internal error; it is safe to retry');
  }
}

/** How long to wait when DynamoDB or SQS throttle: long enough for a partition to recover. */
export const THROTTLED_RETRY_MS = 1_000;

/** How long a client waits before resending a frame that ran out of time. */
export const OUT_OF_TIME_RETRY_MS = 1_000;

/** Throttling errors of DynamoDB, SQS and S3, after the SDK's own retries. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'TransactionConflictException',
  'SlowDown',
]);

/** Cancellation reasons of a DynamoDB transaction that was throttled, not refused by a condition. */
export const THROTTLED_CANCELLATION_CODES: ReadonlySet<string> = new Set([
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);

/**
 * True for a throttling error that outlasted the SDK's own retries, including a transaction cancelled
 * because an item was throttled or kept meeting a concurrent transaction: resending later succeeds, so
 * every route answers it `busy`, whichever transaction it ran.
 */
export function isThrottled(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (THROTTLING.has(err.name)) return true;
  return (cancellationReasons(err) ?? []).some(
    ({ Code }) =>
      Code !== undefined && (THROTTLED_CANCELLATION_CODES.has(Code) || Code === 'TransactionConflict'),
  );
}

/** The route's deadline passed (its abort signal fired) or the runtime stopped the invocation. */
export const isOutOfTime = (err: unknown): boolean =>
  err instanceof Error && (err.name === 'AbortError' || err.name === 'InvocationStoppedError');

/** The answer to a request that ran out of time: nothing it did needs undoing, so it may be resent. */
export const outOfTimeError = (): BusyError =>
  new BusyError('The request ran out of time', OUT_OF_TIME_RETRY_MS);

/**
 * Throttling and running out of time are `busy`: safe to resend after a pause. Anything else is
 * returned as it is, so a core can rethrow `asBusy(err)` and keep its own errors.
 */
export function asBusy(err: unknown): unknown {
  if (isThrottled(err)) return new BusyError('The service is saturated', THROTTLED_RETRY_MS);
  if (isOutOfTime(err)) return outOfTimeError();
  return err;
}

/**
 * Narrows an unknown thrown value to a ChatError: the same policy for every route, so throttling and
 * running out of time are `busy` with `retryAfterMs`, and anything else unexpected is InternalError.
 */
export function toChatError(err: unknown): ChatError {
  const chatError = asBusy(err);
  return chatError instanceof ChatError ? chatError : new InternalError();
}

/** True for an AWS SDK error with the given name (works across SDK package copies). */
export function isAwsError(err: unknown, name: string): err is Error & { name: string } {
  return err instanceof Error && err.name === name;
}

/** One entry of a TransactionCanceledException's CancellationReasons, by transaction item index. */
export interface CancellationReason {
  Code?: string;
  /** The item as it was, when the failed condition asked for ReturnValuesOnConditionCheckFailure. */
  Item?: Record<string, unknown>;
}

/** The per-item reasons of a cancelled transaction; undefined when `err` is not a cancellation. */
export function cancellationReasons(err: unknown): CancellationReason[] | undefined {
  if (!isAwsError(err, 'TransactionCanceledException')) return undefined;
  const reasons: unknown = (err as { CancellationReasons?: unknown }).CancellationReasons;
  if (!Array.isArray(reasons)) return [];
  return reasons.map((reason: unknown) => (typeof reason === 'object' && reason !== null ? reason : {}));
}
