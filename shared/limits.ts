/** Limits of the wire protocol, chosen to fit the API Gateway WebSocket quotas in SPEC.md. */
export const LIMITS = {
  /** API Gateway refuses client frames above 32 KB; we refuse them too, before parsing. */
  maxFrameBytes: 32 * 1024,
  /** A message body must fit in one pushed frame together with its envelope. */
  maxBodyBytes: 16 * 1024,
  /** A reply (for example a backlog page) must stay under the 128 KB message quota. */
  maxReplyBytes: 100 * 1024,
  /** Members of one conversation, the creator included, on create and on every add. */
  maxGroupSize: 100,
  /** Conversations one connection listens to at once; bounds the connection item and `$disconnect`. */
  maxSubscriptionsPerConnection: 200,
  maxTitleLength: 200,
  defaultPageSize: 50,
  maxPageSize: 100,
  /** Connections live at most 2 h on API Gateway; items outlive that a little, then TTL removes them. */
  connectionTtlSeconds: 3 * 60 * 60,
  /** The send function's timeout (lib/wiring.ts uses it); no send outlives it on AWS or locally. */
  sendTimeoutSeconds: 10,
  /**
   * How long a send owns what it started: its claim on a clientMessageId and the seq it reserved. Past
   * it the writer cannot still be running (the send timeout plus 5 s for clocks), so a resend may take
   * the claim over and a reader may fill the seq with a tombstone.
   */
  writerLeaseMs: 15_000,
  /** At most one `typing` event per user per conversation in this window; more are acked `throttled`. */
  typingThrottleMs: 3_000,
  /** How long a clientMessageId is remembered for idempotent retries. */
  idempotencyTtlSeconds: 7 * 24 * 60 * 60,
} as const;
