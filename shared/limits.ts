/** Limits of the wire protocol, chosen to fit the API Gateway WebSocket quotas in SPEC.md. */
export const LIMITS = {
  /** API Gateway refuses client frames above 32 KB; we refuse them too, before parsing. */
  maxFrameBytes: 32 * 1024,
  /** A message body must fit in one pushed frame together with its envelope. */
  maxBodyBytes: 16 * 1024,
  /** A reply (for example a backlog page) must stay under the 128 KB message quota. */
  maxReplyBytes: 100 * 1024,
  maxMembers: 100,
  maxTitleLength: 200,
  defaultPageSize: 50,
  maxPageSize: 100,
  /** Connections live at most 2 h on API Gateway; items outlive that a little, then TTL removes them. */
  connectionTtlSeconds: 3 * 60 * 60,
  /** How long a clientMessageId is remembered for idempotent retries. */
  idempotencyTtlSeconds: 7 * 24 * 60 * 60,
} as const;
