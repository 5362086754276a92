import { CLIENT_LIMITS } from './client-limits';

/** Limits of the wire protocol, chosen to fit the API Gateway WebSocket quotas in SPEC.md. */
export const LIMITS = {
  /** API Gateway refuses client frames above 32 KB; we refuse them too, before parsing. */
  maxFrameBytes: CLIENT_LIMITS.maxFrameBytes,
  /** A message body must fit in one pushed frame together with its envelope. */
  maxBodyBytes: CLIENT_LIMITS.maxBodyBytes,
  /** A reply (for example a backlog page) must stay under the 128 KB message quota. */
  maxReplyBytes: 100 * 1024,
  /** Members of one conversation, the creator included, on create and on every add. */
  maxGroupSize: 100,
  /**
   * The longest slow mode an admin may set on a room (shared/protocol/rooms.ts): one message per member
   * every this many seconds at most.
   */
  maxSlowModeSeconds: 6 * 60 * 60,
  /**
   * Conversations one user may be in (direct ones included): a conditional counter on the user's
   * `USER#<userId>` profile item, taken in the transaction that writes their member item and given back
   * when they leave or are removed (shared/store/conversations/profiles.ts). Above it, whoever tries to add them, and they
   * themselves, are refused `limit_exceeded`.
   */
  maxConversationsPerUser: CLIENT_LIMITS.maxConversationsPerUser,
  /** Users one user may block (a string set on their profile item, which must stay well under 400 KB). */
  maxBlockedUsers: 1_000,
  /**
   * Invitations one user may have pending (a counter on their profile item, like the conversation cap):
   * a group added to by someone the user's `whoCanAdd` does not admit becomes an invitation.
   */
  maxPendingInvitations: 100,
  /**
   * Who may add a user to a group straight away until they choose (`setWhoCanAdd`): `anyone`, `contacts`
   * (people they share a group with; a direct conversation does not count) or `nobody`; the others' adds
   * become invitations. `contacts`, so that out of the box a stranger cannot pull anyone into a group: a
   * group created by someone the user has never been in a group with arrives as an invitation to accept.
   */
  defaultWhoCanAdd: 'contacts',
  /** Conversations one connection listens to at once; bounds the connection item and `$disconnect`. */
  maxSubscriptionsPerConnection: 200,
  /**
   * Subscriptions a conversation's base partition takes before the conversation is sharded
   * (shared/store/connections/shards.ts): about what one fan-out record posts inline in well under a
   * second (10 posts in flight at 20-50 ms each). Below it a message is posted inline by the FIFO
   * consumer, one Query and no extra call; above it the consumer hands the shards to parallel jobs.
   */
  fanoutShardThreshold: 200,
  /**
   * Shards of a sharded conversation, each a partition of its own and one job per message: at 100,000
   * viewers about 3,100 connections per job, which the shard worker posts 50 at a time in about 2 s on
   * AWS (30 ms a post). Fixed once a conversation is sharded: its marker item records the count.
   */
  subscriptionShards: 32,
  maxTitleLength: 200,
  defaultPageSize: CLIENT_LIMITS.defaultPageSize,
  maxPageSize: CLIENT_LIMITS.maxPageSize,
  /** Connections live at most 2 h on API Gateway; items outlive that a little, then TTL removes them. */
  connectionTtlSeconds: 3 * 60 * 60,
  /** The send function's timeout (lib/wiring.ts uses it); no send outlives it on AWS or locally. */
  sendTimeoutSeconds: 10,
  /**
   * How long a send owns what it started: its claim on a clientMessageId and the seq it reserved. Past
   * it the writer cannot still be running (the send timeout plus 5 s for clocks), so a resend may take
   * the claim over and a reader may fill the seq with a tombstone.
   */
  writerLeaseMs: CLIENT_LIMITS.writerLeaseMs,
  /** At most one `typing` event per user per conversation in this window; more are acked `throttled`. */
  typingThrottleMs: CLIENT_LIMITS.typingThrottleMs,
  /**
   * How long a `typing` push shows someone as typing (the SDK's `room.state.typing`), unless their message
   * comes first: a little longer than the throttle, so a steady typist's pushes keep them shown.
   */
  typingShownMs: CLIENT_LIMITS.typingShownMs,
  /**
   * Messages one user may send into one conversation: a token bucket refilled at `sendRatePerSecond`
   * holding at most `sendBurst` (a client flushing its outbox after a reconnect sends a burst at once).
   * Its state is the `sendTat` attribute of the sender's `MEMBER#` item (shared/store/conversations/send-bucket.ts).
   */
  sendRatePerSecond: 10,
  sendBurst: 100,
  /**
   * Frames one connection may send, counted in memory by each execution environment of a function
   * (shared/route-kit/): a noisy client is refused `rate_limited` before its frame costs an AWS call.
   */
  connectionFramesPerSecond: 50,
  connectionFrameBurst: 200,
  /**
   * Frames of one connection refused since its bucket was last full, after which the route kit closes it
   * (DeleteConnection): a refused frame has already been charged to the stage's throttle, so refusing does
   * not stop a client that ignores `rate_limited`. Frames refused together are told to come back one
   * interval apart, so a client that waits `retryAfterMs` is refused each frame about once and would need
   * over 400 frames beyond the burst in flight at once (600 sent together) to get here; the SDK has at most
   * one subscribe per stream (200 subscriptions per connection) and one send per conversation out at once.
   */
  connectionFramesRefusedBeforeClose: 400,
  /**
   * `read` events go to the conversation's listeners only up to this many members: above it, a cursor
   * move would cost a push to every listener for every read (large chats show no per-member receipts).
   */
  maxReadEventMembers: 20,
  /**
   * When a user's first connection opens, `online` goes to the listeners of at most this many of their
   * conversations (one Query of the subscriptions each); a conversation past it hears the user when one
   * of their connections subscribes to it.
   */
  onlineAnnouncedConversations: 50,
  /**
   * `activity` pushes (the live conversation list) go to members not subscribed to the conversation only
   * up to this many members: each such member costs one byUser Query per message.
   */
  maxActivityEventMembers: 20,
  /**
   * Characters (code points) of a message body shown as its preview: in an offline-member event and as a
   * conversation's last message in `listConversations` (100 conversations × 100 characters stay well
   * under the reply limit, where whole 16 KiB bodies would not).
   */
  previewChars: 100,
  /** Largest attachment a member may upload (the presigned POST's policy allows exactly the size asked). */
  maxAttachmentBytes: 10 * 1024 * 1024,
  /** How long a presigned upload or download URL stays valid. */
  attachmentUrlTtlSeconds: 300,
  /**
   * Open connections of one user at once, counted across execution environments on the user's limits
   * item in the connections table (shared/store/connections/slots.ts); `$connect` past it is refused with 429.
   * Each connection multiplies the fan-out of every message to the user, so this also bounds what one
   * user costs every sender.
   */
  maxConnectionsPerUser: 10,
  /**
   * Per-user frame budgets by cost class (shared/protocol/actions.ts), each a token bucket of `perSecond`
   * holding at most `burst`, on the user's limits item so they hold across execution environments.
   * Generous on purpose: they stop one user from costing the others, not a client at work (a reconnect
   * re-subscribes up to 200 streams at once; a send stays limited first by its per-conversation bucket).
   */
  userBudgets: {
    cheap: { perSecond: 20, burst: 100 },
    read: { perSecond: 30, burst: 300 },
    write: { perSecond: 30, burst: 300 },
    admin: { perSecond: 10, burst: 100 },
  },
  /** How long a clientMessageId is remembered for idempotent retries. */
  idempotencyTtlSeconds: 7 * 24 * 60 * 60,
} as const;

/** What a frame's action costs, so each class has its own per-user budget (LIMITS.userBudgets). */
export type CostClass = keyof typeof LIMITS.userBudgets;
