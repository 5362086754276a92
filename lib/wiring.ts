/**
 * What runs where, as plain data: each function's entry file, the tables and queues it may touch, and
 * which WebSocket route invokes it. The CDK stack builds functions, grants, environment variables and
 * routes from this table, and the local runtime wires the same handlers from it, so a route added here
 * works in both places with no second edit. This file must not import aws-cdk-lib.
 */
import { LIMITS } from '../shared/limits';
import type { TABLES, TableName } from '../shared/tables';

/**
 * A DynamoDB data-plane action, as IAM names it without the `dynamodb:` prefix. A TransactWriteItems
 * call needs no action of its own: IAM checks each of its items as the PutItem, UpdateItem, DeleteItem
 * or ConditionCheckItem it is. Scan and the stream actions are left out on purpose: no code path scans,
 * and no table has a stream.
 */
export type TableAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'Query'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'BatchWriteItem'
  | 'ConditionCheckItem';

/** The names of the global secondary indexes of `T`, as shared/tables.ts defines them. */
export type IndexOf<T extends TableName> = (typeof TABLES)[T] extends {
  globalSecondaryIndexes: readonly (infer I)[];
}
  ? I extends { indexName: infer N extends string }
    ? N
    : never
  : never;

/**
 * What one function may do on one table: `actions` on the table's items, and Query on exactly the
 * `queryIndexes` named (each its own resource, `table/<name>/index/<index>`, so no wildcard).
 */
export interface TableGrant<I extends string = string> {
  readonly actions: readonly TableAction[];
  /** @default none */
  readonly queryIndexes?: readonly I[];
}

/** Per table, the grant of one function; a table left out is neither granted nor named to it. */
export type TableGrants = { readonly [T in TableName]?: TableGrant<IndexOf<T>> };

/**
 * How a function uses a queue. `consume` on the fan-out queue makes it the event source; the dlq
 * function only receives from the DLQ when invoked by hand, since an event source would loop failing
 * letters straight back.
 */
export type QueueAccess = 'send' | 'consume' | 'consumeAndSend';

/**
 * How a function uses the attachments bucket (shared/attachments.ts), and nothing else of it:
 * - `sign`: signs POSTs under `uploads/` and GETs under `conversations/`, and confirms uploads (reads
 *   and deletes under `uploads/`, puts the copy under `conversations/`);
 * - `verify`: reads (HeadObject) and deletes objects under `conversations/`: a send checks the
 *   attachment it names, a delete removes the deleted message's object.
 */
export type BucketAccess = 'sign' | 'verify';

/**
 * How a function uses the offline-member EventBridge bus: `put` grants `events:PutEvents` on that bus
 * only; its name arrives as ENV.offlineEventBus.
 */
export type EventBusAccess = 'put';

export interface FunctionWiring {
  /** Entry file relative to the repository root; it exports `handler`. */
  entry: string;
  description: string;
  /**
   * The tables the function uses, each with exactly the actions its code sends (derived from the store
   * functions it calls, shared/store/): the stack grants that and passes the table's name in
   * TABLE_ENV[table] in one call, so the grant and the name cannot drift apart.
   */
  tables: TableGrants;
  /** Fan-out queue access; its URL arrives as ENV.fanoutQueueUrl (shared/env.ts). */
  fanoutQueue?: QueueAccess;
  /** Dead-letter queue access; its URL arrives as ENV.deadLetterQueueUrl. */
  deadLetterQueue?: QueueAccess;
  /**
   * Shard-queue access (the FIFO queue of shard jobs, lambdas/fanout/split.ts); its URL arrives as
   * ENV.shardQueueUrl.
   */
  shardQueue?: QueueAccess;
  /**
   * Receives and deletes on the shard queue's dead-letter queue (the redrive). No variable carries its
   * URL: the function reads it from the shard queue's redrive policy (lambdas/dlq/shard-queue.ts).
   */
  shardDeadLetterQueue?: 'consume';
  /**
   * Posts to or closes connections through the management API; its endpoint arrives as
   * ENV.managementEndpoint. Every function behind a two-way route needs it: its route kit closes a
   * connection that keeps sending while refused (shared/route-kit/).
   */
  managementApi?: boolean;
  /** Verifies JWTs; issuer settings arrive as ENV.jwtIssuer, ENV.jwtJwksUrl, ENV.jwtAudience. */
  verifiesTokens?: boolean;
  /** Attachments bucket access, by prefix (BucketAccess); its name arrives as ENV.attachmentsBucket. */
  attachments?: BucketAccess;
  /** Offline-member bus access; its name arrives as ENV.offlineEventBus. */
  eventBus?: EventBusAccess;
  /** @default 10 */
  timeoutSeconds?: number;
  /** @default 256 */
  memoryMiB?: number;
}

export const FUNCTIONS = {
  authorizer: {
    entry: 'lambdas/connect/authorizer.ts',
    description: 'REQUEST authorizer of $connect: verifies the JWT in the token query parameter',
    tables: {},
    verifiesTokens: true,
  },
  connect: {
    entry: 'lambdas/connect/handler.ts',
    description:
      "$connect stores the connection and announces a user's first online; $disconnect removes it and its subscriptions and announces the user offline",
    tables: {
      // putConnection, deleteConnection, addAnnounced, the user's connection slot on their USER# item
      // (claimed at $connect, given back at $disconnect); otherConnection confirms a byUser candidate.
      connections: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'], queryIndexes: ['byUser'] },
      // listListeners hears presence; deleteConnection removes a closed socket's subscriptions.
      subscriptions: { actions: ['Query', 'BatchWriteItem'] },
      // memberConversationIds: the byMember index names the conversations whose listeners hear "online".
      conversations: { actions: [], queryIndexes: ['byMember'] },
    },
    // Posts the presence events when the user's first connection opens and last one closes.
    managementApi: true,
  },
  send: {
    entry: 'lambdas/send/handler.ts',
    description:
      'Stores a message under the next gap-free seq and enqueues it for fan-out; edits and deletes messages',
    tables: {
      // takeSendToken (the membership check is its condition), reserveSeq and a room's slow-mode turn:
      // conditional updates; a room's slow mode and a moderator's role (GetItem, docs/rooms.md).
      conversations: { actions: ['GetItem', 'UpdateItem'] },
      // getEntry (edit, delete, a resend), putMessage, fillHole, editBody and markDeleted.
      messages: { actions: ['GetItem', 'PutItem', 'UpdateItem'] },
      // claim (put, its read-back, the take-over), markClaim, releaseClaim.
      idempotency: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] },
      // The user's frame budget on their USER# item (shared/store/connections/budgets.ts), one UpdateItem a frame.
      connections: { actions: ['UpdateItem'] },
    },
    fanoutQueue: 'send',
    // A send that carries an attachment checks it (HeadObject); a delete removes its object.
    attachments: 'verify',
    // The route kit closes a connection that keeps sending while refused.
    managementApi: true,
    timeoutSeconds: LIMITS.sendTimeoutSeconds,
  },
  conversations: {
    entry: 'lambdas/conversations/handler.ts',
    description:
      'Conversation routes: create, add/remove/promote members, leave, block list, invitations, list, read, subscribe, unsubscribe, history, typing, presence, ping, rooms; $default',
    tables: {
      // Membership checks and counters (GetItem), list and membership reads (BatchGetItem, Query of the
      // member items, byMember for the caller's list), create/add/remove (transaction items, with
      // ConditionCheck items: still an admin, not removed by one), read cursors, the typing throttle,
      // removal records and seqs (UpdateItem).
      conversations: {
        actions: [
          'GetItem',
          'BatchGetItem',
          'Query',
          'PutItem',
          'UpdateItem',
          'DeleteItem',
          'ConditionCheckItem',
        ],
        queryIndexes: ['byMember'],
      },
      // putSubscription and deleteSubscription keep the connection's `conversations` set, and every frame
      // takes its user's budget on their USER# item; presence reads the members' USER# items
      // (BatchGetItem); byUser finds a removed member's sockets.
      connections: { actions: ['UpdateItem', 'BatchGetItem'], queryIndexes: ['byUser'] },
      // GetItem: a subscribe that lost the race to shard a conversation reads the winner's shard count.
      // UpdateItem: the marker (its shard count, and a room's tick with createRoom and setTick).
      subscriptions: { actions: ['Query', 'GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] },
      // Backlog and history pages (Query), the list's last messages (BatchGetItem); PutItem because a
      // reader fills a dead writer's seq with a tombstone, and membership changes are stored here.
      messages: { actions: ['BatchGetItem', 'Query', 'PutItem'] },
    },
    // Posts typing, presence and read events straight to connections: they never take the FIFO message path.
    managementApi: true,
    // Membership changes take a seq and are fanned out in the conversation's group, like messages.
    fanoutQueue: 'send',
  },
  attachments: {
    entry: 'lambdas/attachments/handler.ts',
    description:
      'Attachments for members: uploadUrl (presigned POST), confirmUpload (checks the upload), downloadUrl (GET)',
    // requireMember, one GetItem: the URLs it signs are the only way to the bucket.
    // takeUserToken: the user's frame budget on their USER# item in the connections table.
    tables: { conversations: { actions: ['GetItem'] }, connections: { actions: ['UpdateItem'] } },
    attachments: 'sign',
    // The route kit closes a connection that keeps sending while refused.
    managementApi: true,
  },
  fanout: {
    entry: 'lambdas/fanout/handler.ts',
    description:
      'Posts each queued message to every subscribed connection, in FIFO group order; activity to unsubscribed members, offline events to the bus',
    tables: {
      // A 410 deletes the gone connection and gives its user's connection slot back (UpdateItem of the
      // USER# item); byUser tells which members are online (offline events).
      connections: { actions: ['DeleteItem', 'UpdateItem'], queryIndexes: ['byUser'] },
      // listListeners, and the gone connection's subscriptions deleted in batches.
      subscriptions: { actions: ['Query', 'BatchWriteItem'] },
      // listMembers: one Query of the member items (offline events, activity frames).
      conversations: { actions: ['Query'] },
    },
    fanoutQueue: 'consume',
    deadLetterQueue: 'send',
    // A sharded conversation's record becomes one job per shard (lambdas/fanout/split.ts).
    shardQueue: 'send',
    managementApi: true,
    eventBus: 'put',
    timeoutSeconds: 30,
    memoryMiB: 512,
  },
  fanoutShard: {
    entry: 'lambdas/fanout/shard-handler.ts',
    description:
      "Posts one shard of a big conversation's message to the shard's connections, the shards in parallel",
    tables: {
      // A 410 or an eviction deletes the connection and gives its user's slot back (UpdateItem).
      connections: { actions: ['DeleteItem', 'UpdateItem'] },
      // listShard, and the gone connection's subscriptions deleted in batches.
      subscriptions: { actions: ['Query', 'BatchWriteItem'] },
    },
    shardQueue: 'consume',
    managementApi: true,
    timeoutSeconds: 30,
    memoryMiB: 512,
  },
  dlq: {
    entry: 'lambdas/dlq/handler.ts',
    description:
      'Redrives dead letters back to the fan-out queue, or shard jobs back to the shard queue, keeping their message group',
    tables: {},
    fanoutQueue: 'send',
    deadLetterQueue: 'consumeAndSend',
    // Sends redriven shard jobs; its redrive policy names the shard DLQ.
    shardQueue: 'send',
    shardDeadLetterQueue: 'consume',
    timeoutSeconds: 300,
  },
} as const satisfies Record<string, FunctionWiring>;

export type FunctionName = keyof typeof FUNCTIONS;

/**
 * How a route is wired. A function name alone makes the route two-way: it has a route response, so
 * API Gateway sends the handler's result `body` back to the client as the reply frame. `{ function,
 * routeResponse: false }` makes it one-way: no route response, and the sender gets nothing back,
 * whatever the handler returns (it can still post to connections through the management API).
 */
export type RouteWiring<F extends string = FunctionName> =
  | F
  | { readonly function: F; readonly routeResponse: false };

/**
 * Route key → wiring. `$connect` runs the authorizer first. It and `$disconnect` are one-way: the
 * `$connect` result only decides the handshake, and `$disconnect` has no client left to answer. Every
 * other route is two-way: the handler's return value is the reply frame. `$default` catches malformed
 * JSON and unknown actions.
 */
export const ROUTES = {
  $connect: { function: 'connect', routeResponse: false },
  $disconnect: { function: 'connect', routeResponse: false },
  $default: 'conversations',
  send: 'send',
  edit: 'send',
  delete: 'send',
  subscribe: 'conversations',
  unsubscribe: 'conversations',
  history: 'conversations',
  createConversation: 'conversations',
  addMembers: 'conversations',
  removeMember: 'conversations',
  leave: 'conversations',
  promote: 'conversations',
  block: 'conversations',
  unblock: 'conversations',
  listBlocked: 'conversations',
  setWhoCanAdd: 'conversations',
  listInvitations: 'conversations',
  accept: 'conversations',
  decline: 'conversations',
  listConversations: 'conversations',
  read: 'conversations',
  uploadUrl: 'attachments',
  confirmUpload: 'attachments',
  downloadUrl: 'attachments',
  typing: 'conversations',
  presence: 'conversations',
  ping: 'conversations',
  createRoom: 'conversations',
  joinRoom: 'conversations',
  setSlowMode: 'conversations',
  setTick: 'conversations',
  roomInfo: 'conversations',
  unbanMember: 'conversations',
  listBanned: 'conversations',
  newInviteCode: 'conversations',
} as const satisfies Record<string, RouteWiring>;

export type RouteKey = keyof typeof ROUTES;

/**
 * The function a route invokes and whether it has a route response. The stack (`returnResponse`) and
 * the local runtime (two-way or not) both read a route through this, so they cannot disagree.
 */
export function routeTarget<F extends string>(
  route: RouteWiring<F>,
): { function: F; routeResponse: boolean } {
  return typeof route === 'string'
    ? { function: route, routeResponse: true }
    : { function: route.function, routeResponse: route.routeResponse };
}

/** The query string parameter that carries the JWT on `$connect` (browsers cannot set headers on WebSockets). */
export const TOKEN_QUERY_PARAMETER = 'token';

/** The route selection expression of the WebSocket API. */
export const ROUTE_SELECTION_EXPRESSION = '$request.body.action';

/** The function that authorizes `$connect`. */
export const AUTHORIZER: FunctionName = 'authorizer';

/** The function whose event source is the fan-out queue. */
export const FANOUT_CONSUMER: FunctionName = 'fanout';

/**
 * The fan-out queue pair and its event source. The stack and the local runtime both read these, so a
 * changed batch size or retry count behaves the same on a laptop as on AWS.
 */
export const FANOUT_QUEUE = {
  /**
   * AWS's advice for an SQS event source: visibility timeout at least six times the function timeout.
   * It applies to a record whose invocation crashed or was killed; a reported failure comes back sooner.
   */
  visibilityTimeoutFactor: 6,
  /**
   * Receives of one message before it moves to the dead-letter queue (a stack prop overrides it). A failed
   * record comes back after 1, 2, 4, then 8 s (lambdas/fanout/retry.ts), not after the visibility
   * timeout, so 30 receives outlast an outage of about 3.6 minutes even when every attempt fails at
   * once (1 + 2 + 4 + 26 × 8 s), and more when the calls hang until their timeouts. 5 receives would
   * dead-letter a record 15 s into an outage.
   */
  defaultMaxReceiveCount: 30,
  /** Records per invocation: the FIFO maximum. */
  batchSize: 10,
  reportBatchItemFailures: true,
  /** Most concurrent fan-out invocations (a stack prop overrides it). */
  defaultMaxConcurrency: 10,
} as const;

/** A queue consumer's timeout in seconds times the factor: the visibility timeout of its queue. */
function visibilityTimeoutOf(consumer: FunctionName): number {
  const wiring: FunctionWiring = FUNCTIONS[consumer];
  return (wiring.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * FANOUT_QUEUE.visibilityTimeoutFactor;
}

/** The fan-out queue's visibility timeout, from its consumer's timeout. */
export const fanoutVisibilityTimeoutSeconds = (): number => visibilityTimeoutOf(FANOUT_CONSUMER);

/** Function timeout when its wiring names none. */
export const DEFAULT_TIMEOUT_SECONDS = 10;

/** The function whose event source is the shard queue. */
export const SHARD_CONSUMER: FunctionName = 'fanoutShard';

/**
 * The shard queue pair (FIFO, one message group per shard: a viewer's pushes keep their order) and its
 * event source, read by the stack and the local runtime alike: as the fan-out queue's, with more
 * invocations at once (the shards of a few big rooms).
 */
export const SHARD_QUEUE = { ...FANOUT_QUEUE, defaultMaxConcurrency: 20 } as const;

/** The shard queue's visibility timeout, from the shard worker's timeout. */
export const shardVisibilityTimeoutSeconds = (): number => visibilityTimeoutOf(SHARD_CONSUMER);
