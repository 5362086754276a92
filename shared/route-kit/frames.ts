/** A WebSocket event's frame: who sent it, how it parses and validates, and the reply frame it gets. */
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import {
  type ChatError,
  InvalidJsonError,
  PayloadTooLargeError,
  UnauthorizedError,
  ValidationError,
} from '../errors';
import { LIMITS } from '../limits';
import type { AckFrame, ErrorFrame } from '../protocol';
import * as z from '../protocol/zod';

/** The authorizer's output as API Gateway passes it to every route after `$connect`. */
export interface AuthorizerContext {
  principalId?: string;
  userId?: string;
  /** The token's `exp` in epoch seconds; API Gateway passes context values as strings. */
  exp?: string | number;
}

export type RouteEvent = APIGatewayProxyWebsocketEventV2 & {
  requestContext: APIGatewayProxyWebsocketEventV2['requestContext'] & { authorizer?: AuthorizerContext };
};

/** What a two-way route returns: API Gateway sends `body` to the client as one text frame. */
export interface RouteResult {
  statusCode: number;
  body: string;
}

/** The caller's user id, as the authorizer put it in the request context. */
export function userIdOf(event: Pick<RouteEvent, 'requestContext'>): string {
  const authorizer = event.requestContext.authorizer;
  const userId = authorizer?.userId ?? authorizer?.principalId;
  if (typeof userId !== 'string' || userId === '') throw new UnauthorizedError('No authenticated user');
  return userId;
}

/**
 * When the caller's token expires (epoch seconds), from the authorizer context; undefined for a
 * connection opened before the authorizer passed `exp` (it ends at API Gateway's 2-hour limit).
 * @throws UnauthorizedError when `exp` is there but not a number: the authorizer is not this one.
 */
export function tokenExpiryOf(event: Pick<RouteEvent, 'requestContext'>): number | undefined {
  const exp = event.requestContext.authorizer?.exp;
  if (exp === undefined) return undefined;
  const seconds = typeof exp === 'number' ? exp : /^[0-9]{1,12}$/.test(exp) ? Number(exp) : Number.NaN;
  if (!Number.isFinite(seconds)) throw new UnauthorizedError('The token expiry (exp) is not a number');
  return seconds;
}

/** Parses a raw frame: size first (cheap), then JSON, then that it is an object. */
export function parseFrame(raw: string | undefined): Record<string, unknown> {
  const text = raw ?? '';
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > LIMITS.maxFrameBytes) throw new PayloadTooLargeError('The frame', LIMITS.maxFrameBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidJsonError();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidJsonError('The frame is JSON but not an object; send {"action": …}');
  }
  return parsed as Record<string, unknown>;
}

/** Validates a frame against its schema, listing every problem with its field path. */
export function validate<S extends z.core.$ZodType>(schema: S, frame: unknown): z.infer<S> {
  const result = z.safeParse(schema, frame);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const limit: unknown = issue.code === 'custom' ? issue.params?.payloadTooLargeLimit : undefined;
      if (typeof limit === 'number') throw new PayloadTooLargeError(`The ${issue.path.join('.')}`, limit);
    }
    throw new ValidationError(
      result.error.issues.map((issue) => `${issue.path.join('.') || 'frame'}: ${issue.message}`),
    );
  }
  return result.data;
}

export function errorFrame(err: ChatError, requestId: string | undefined): ErrorFrame {
  return {
    type: 'error',
    ...(requestId === undefined ? {} : { requestId }),
    code: err.code,
    message: err.message,
    retryable: err.retryable,
    ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
  };
}

export function reply(frame: AckFrame | ErrorFrame): RouteResult {
  return { statusCode: 200, body: JSON.stringify(frame) };
}

/** The frame if it parses, else undefined: a refusal answers with its requestId when it has one. */
export function parsedOrUndefined(raw: string | undefined): Record<string, unknown> | undefined {
  try {
    return parseFrame(raw);
  } catch {
    return undefined;
  }
}

export function requestIdOf(frame: Record<string, unknown> | undefined): string | undefined {
  const value = frame?.requestId;
  return typeof value === 'string' && value.length <= 64 ? value : undefined;
}
