/** Protocol error codes. Each domain error maps to exactly one of them, here and nowhere else. */
export type ErrorCode =
  | 'invalid_json'
  | 'unknown_action'
  | 'invalid_request'
  | 'payload_too_large'
  | 'unauthorized'
  | 'forbidden'
  | 'conflict'
  | 'internal_error';

/** Base class of every error the client may see. `retryable` tells the client SDK whether to resend. */
export abstract class ChatError extends Error {
  abstract readonly code: ErrorCode;
  readonly retryable: boolean = false;
}

export class InvalidJsonError extends ChatError {
  readonly code = 'invalid_json';
  constructor() {
    super('The frame is not valid JSON');
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

/** The sequence counter stayed contended through every retry. Safe to resend with the same clientMessageId. */
export class SequenceConflictError extends ChatError {
  readonly code = 'conflict';
  override readonly retryable = true;
  constructor(conversationId: string, attempts: number) {
    super(
      `Conversation ${conversationId} is busy (${attempts} attempts); resend with the same clientMessageId`,
    );
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

/** Narrows an unknown thrown value to a ChatError, wrapping anything else as InternalError. */
export function toChatError(err: unknown): ChatError {
  return err instanceof ChatError ? err : new InternalError();
}

/** True for an AWS SDK error with the given name (works across SDK package copies). */
export function isAwsError(err: unknown, name: string): err is Error & { name: string } {
  return err instanceof Error && err.name === name;
}
