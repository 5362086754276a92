/**
 * Conversation routes: create a conversation, add members, subscribe (backlog + live), unsubscribe and
 * read history. One Lambda serves them all and `$default`, so an unknown action or a malformed frame
 * gets its error frame here too.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  paginateQuery,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  cancellationReasons,
  LimitExceededError,
  NotAMemberError,
  ValidationError,
} from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import {
  addMembersFrameSchema,
  type ConversationListEntry,
  type ConversationListPage,
  type ConversationSummary,
  createConversationFrameSchema,
  type DeletedMessage,
  historyFrameSchema,
  isTombstone,
  type LastEntry,
  listConversationsFrameSchema,
  type MembershipEntry,
  type MessagesPage,
  messagePreview,
  pingFrameSchema,
  readFrameSchema,
  type StoredEntry,
  subscribeFrameSchema,
  unsubscribeFrameSchema,
} from '../../shared/protocol';
import { batchGetAll } from '../../shared/store/batch';
import { deleteSubscription, putSubscription } from '../../shared/store/connections';
import { requireMember } from '../../shared/store/conversations';
import { messagesAfter, messagesBefore, toEntry } from '../../shared/store/messages';
import { META_SK, memberSk, TABLES, type TableNames } from '../../shared/tables';
import { createRouteHandler, type RouteEvent, type RouteResult, route } from '../../shared/websocket';
import { type EphemeralDeps, ephemeralRoutes, postReadEvent, prepareOnlineAnnouncement } from './ephemeral';
import {
  confirmSubscriber,
  type MemberRole,
  type MembershipDeps,
  membershipRoutes,
  recordMembershipChange,
} from './membership';

/** DynamoDB refuses a TransactWriteItems call with more items than this. */
const MAX_TRANSACTION_ITEMS = 100;

/** Attempts of addMembers when a concurrent add keeps changing who is a member. */
const ADD_MEMBERS_ATTEMPTS = 3;

export interface ConversationsDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'conversations' | 'subscriptions' | 'connections' | 'messages'>;
  logger: Logger;
  /** @default () => new Date() */
  clock?: () => Date;
  /** Generates conversation ids; they must match `conversationIdSchema`. @default crypto.randomUUID */
  newId?: () => string;
  /**
   * Posting to connections (./ephemeral.ts): serves `typing` and `presence` and makes `subscribe`
   * announce a user's arrival. @default none: no such routes, and subscribe announces nothing
   */
  ephemeral?: Pick<EphemeralDeps, 'post' | 'postBudgetMs'>;
  /**
   * The fan-out queue (./membership.ts): serves `removeMember` and `leave`, and makes `addMembers` record
   * its change in the conversation's order. @default none: no such routes, and adds record nothing
   */
  membership?: Pick<MembershipDeps, 'sqs' | 'fanoutQueueUrl'>;
}

/**
 * Builds the Lambda handler of the conversation routes and `$default`.
 *
 * - `createConversation {members, title?}` writes META and every member item (the caller included) in
 *   one transaction, so a conversation never exists without its members.
 * - `addMembers {conversationId, members}` adds those not yet members (as plain members; the creator is
 *   the admin); existing members are skipped. With `deps.membership` the change takes a seq.
 * - `removeMember` and `leave` (./membership.ts), with `deps.membership`.
 * - `read {conversationId, seq}` moves the caller's read cursor; with `deps.ephemeral`, a move is posted
 *   to the listeners as `{type:'read'}` in groups of at most LIMITS.maxReadEventMembers.
 * - `subscribe {conversationId, afterSeq?}` registers the subscription first and only then reads the
 *   backlog (G5): a message missing from the backlog was committed after the subscription was stored,
 *   so its fan-out pushes it live and there is no gap. Without `afterSeq` there is no backlog,
 *   only `lastSeq`. When the ack says `hasMore`, the client subscribes again with `afterSeq` = the
 *   last seq it received; subscribing again is idempotent and live messages that overlap the backlog
 *   are deduped by seq.
 * - `unsubscribe {conversationId}` removes the caller connection's subscription (idempotent).
 * - `history {conversationId, beforeSeq?, limit?}` returns a page of older messages, ascending.
 * - `typing` and `presence` (./ephemeral.ts), with `deps.ephemeral`.
 *
 * Non-members get `forbidden` from subscribe, history and addMembers before anything is written.
 */
export function createConversationsHandler(
  deps: ConversationsDeps,
): (event: RouteEvent) => Promise<RouteResult> {
  const { ddb, tables, logger } = deps;
  const clock = deps.clock ?? (() => new Date());
  const newId = deps.newId ?? randomUUID;
  const ephemeral: EphemeralDeps | undefined =
    deps.ephemeral === undefined ? undefined : { ...deps.ephemeral, ddb, tables, logger, clock };
  // With posting too, a change reaches the users it names (./membership.ts, tellNamedUsers).
  const membership: MembershipDeps | undefined =
    deps.membership === undefined
      ? undefined
      : {
          ...deps.membership,
          ddb,
          tables,
          logger,
          clock,
          ...(deps.ephemeral && { post: deps.ephemeral.post }),
        };

  return createRouteHandler(logger, {
    ...(ephemeral === undefined ? {} : ephemeralRoutes(ephemeral)),
    ...(membership === undefined ? {} : membershipRoutes(membership)),
    createConversation: route({
      schema: createConversationFrameSchema,
      run: async (frame, caller) => {
        if (frame.direct === true) {
          const conversation = await openDirect(ddb, tables, caller.userId, frame, clock());
          logger.appendKeys({ conversationId: conversation.conversationId });
          return { conversation };
        }
        const conversationId = newId();
        logger.appendKeys({ conversationId });
        const conversation = await createConversation(ddb, tables, {
          conversationId,
          title: frame.title,
          members: [caller.userId, ...frame.members],
          createdBy: caller.userId,
          now: clock(),
        });
        logger.info('Conversation created', { memberCount: conversation.members.length });
        return { conversation };
      },
    }),
    read: route({
      schema: readFrameSchema,
      run: async (frame, caller) => {
        const { readSeq, moved, memberCount } = await markRead(
          ddb,
          tables,
          frame.conversationId,
          caller.userId,
          frame.seq,
          clock(),
        );
        if (moved && ephemeral !== undefined) {
          await postReadEvent(ephemeral, frame.conversationId, caller, readSeq, memberCount);
        }
        return { conversationId: frame.conversationId, readSeq, moved };
      },
    }),
    addMembers: route({
      schema: addMembersFrameSchema,
      run: async (frame, caller) => {
        await requireMember(ddb, tables, frame.conversationId, caller.userId);
        const added = await addMembers(ddb, tables, {
          conversationId: frame.conversationId,
          members: frame.members,
          addedBy: caller.userId,
          now: clock(),
        });
        if (added.length === 0 || membership === undefined)
          return { conversationId: frame.conversationId, added };
        const seq = await recordMembershipChange(membership, {
          conversationId: frame.conversationId,
          kind: 'member_added',
          userIds: added,
          by: caller.userId,
          now: clock(),
        });
        return { conversationId: frame.conversationId, added, seq };
      },
    }),
    listConversations: route({
      schema: listConversationsFrameSchema,
      run: async (frame, caller) => ({
        ...(await listConversations(
          ddb,
          tables,
          caller.userId,
          frame.limit ?? LIMITS.defaultPageSize,
          frame.cursor,
        )),
      }),
    }),
    ping: route({ schema: pingFrameSchema, run: async () => ({}) }),
    subscribe: route({
      schema: subscribeFrameSchema,
      run: async (frame, caller) => {
        const [, announceOnline] = await Promise.all([
          requireMember(ddb, tables, frame.conversationId, caller.userId),
          ephemeral && prepareOnlineAnnouncement(ephemeral, frame.conversationId, caller),
        ]);
        const page = await subscribe(ddb, tables, frame, caller, clock());
        // Where members can be removed, a removal may have run between the check above and the write.
        if (membership !== undefined) await confirmSubscriber(membership, frame.conversationId, caller);
        await announceOnline?.();
        return { ...page };
      },
    }),
    unsubscribe: route({
      schema: unsubscribeFrameSchema,
      run: async (frame, caller) => {
        await deleteSubscription(ddb, tables, {
          conversationId: frame.conversationId,
          connectionId: caller.connectionId,
        });
        return { conversationId: frame.conversationId };
      },
    }),
    history: route({
      schema: historyFrameSchema,
      run: async (frame, caller) => {
        const [, counter] = await Promise.all([
          requireMember(ddb, tables, frame.conversationId, caller.userId),
          readCounter(ddb, tables, frame.conversationId),
        ]);
        const page = await messagesBefore(
          ddb,
          tables,
          frame.conversationId,
          frame.beforeSeq,
          { ...counter, now: clock() },
          frame.limit,
        );
        const lastSeq = Math.max(counter.lastSeq, page.messages.at(-1)?.seq ?? 0);
        return { conversationId: frame.conversationId, ...page, lastSeq };
      },
    }),
  });
}

/** The refusal for a group that would grow past LIMITS.maxGroupSize. */
function groupTooLarge(size: number): LimitExceededError {
  return new LimitExceededError(
    `A conversation has at most ${LIMITS.maxGroupSize} members (the creator included); this would make ${size}`,
  );
}

/**
 * Writes one item per member and the META item (counter at 0, memberCount), META last: up to 99
 * members that is one TransactWriteItems, and a conversation is never visible without its members. The
 * members are deduplicated, first occurrence first, so pass the creator first.
 * @throws LimitExceededError when there are more than LIMITS.maxGroupSize members.
 */
export async function createConversation(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  input: {
    conversationId: string;
    title?: string;
    members: string[];
    createdBy: string;
    now: Date;
    direct?: boolean;
  },
): Promise<ConversationSummary> {
  const members = [...new Set(input.members)];
  if (members.length > LIMITS.maxGroupSize) throw groupTooLarge(members.length);
  const createdAt = input.now.toISOString();
  const { conversationId, createdBy } = input;
  const meta = {
    conversationId,
    sk: META_SK,
    ...(input.title === undefined ? {} : { title: input.title }),
    createdBy,
    createdAt,
    lastSeq: 0,
    memberCount: members.length,
    ...(input.direct === true ? { direct: true, members } : {}),
  };
  // A conversation exists once its META exists: every route that reads or writes one checks META. So the
  // META put goes in the last transaction, and a group too large for one transaction (DynamoDB takes
  // 100 items) has its members written first: it appears whole or not at all.
  const items = [
    ...members.map((userId) => ({
      Put: {
        TableName: tables.conversations,
        Item: memberItem(
          conversationId,
          userId,
          createdBy,
          createdAt,
          userId === createdBy ? 'admin' : 'member',
        ),
        // A colliding id must fail, never join someone else's conversation.
        ConditionExpression: 'attribute_not_exists(conversationId)',
      },
    })),
    {
      Put: {
        TableName: tables.conversations,
        Item: meta,
        ConditionExpression: 'attribute_not_exists(conversationId)',
      },
    },
  ];
  for (let start = 0; start < items.length; start += MAX_TRANSACTION_ITEMS) {
    await ddb.send(
      new TransactWriteCommand({ TransactItems: items.slice(start, start + MAX_TRANSACTION_ITEMS) }),
    );
  }
  return {
    conversationId,
    ...(input.title === undefined ? {} : { title: input.title }),
    ...(input.direct === true ? { direct: true as const } : {}),
    members,
    createdBy,
    createdAt,
    lastSeq: 0,
  };
}

/** Attempts of `openDirect` whose transaction met the other user's, and the most it waits between them. */
const DIRECT_ATTEMPTS = 4;
const DIRECT_RETRY_MAX_MS = 100;

/**
 * The id of the one direct conversation of two users: the same whoever asks, and never a random
 * conversation's (those are UUIDs, which have no `dm-` prefix).
 */
export function directConversationId(a: string, b: string): string {
  const pair = JSON.stringify([a, b].sort());
  return `dm-${createHash('sha256').update(pair).digest('base64url')}`;
}

/**
 * Opens the direct conversation of the caller and one other user, creating it the first time: asking
 * twice, or both users asking at once, returns the same conversation. It has exactly those two members,
 * no title, and takes no other members.
 * @throws ValidationError for a title, another member count, or oneself.
 */
export async function openDirect(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  callerId: string,
  frame: { members: string[]; title?: string | undefined },
  now: Date,
): Promise<ConversationSummary> {
  const [other] = frame.members;
  if (frame.members.length !== 1 || other === undefined || other === callerId || frame.title !== undefined) {
    throw new ValidationError([
      'members: a direct conversation names exactly one other user, and has no title',
    ]);
  }
  const conversationId = directConversationId(callerId, other);
  for (let attempt = 1; ; attempt++) {
    try {
      return await createConversation(ddb, tables, {
        conversationId,
        members: [callerId, other],
        createdBy: callerId,
        now,
        direct: true,
      });
    } catch (err: unknown) {
      const codes = cancellationReasons(err)?.map((reason) => reason.Code) ?? [];
      if (codes.includes('ConditionalCheckFailed')) break;
      // Both users opening it at the same moment: DynamoDB may cancel both transactions. One of them
      // wins on the next attempt, and the other then finds it.
      if (!codes.includes('TransactionConflict') || attempt >= DIRECT_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * DIRECT_RETRY_MAX_MS));
    }
  }
  // It exists already (or the other user created it a moment ago): answer with it.
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.conversations,
      Key: { conversationId, sk: META_SK },
      ConsistentRead: true,
    }),
  );
  if (Item === undefined) throw new Error(`Direct conversation ${conversationId} has members but no META`);
  return {
    conversationId,
    direct: true,
    members: Array.isArray(Item.members) ? Item.members.map(String) : [callerId, other],
    createdBy: String(Item.createdBy),
    createdAt: String(Item.createdAt),
    lastSeq: typeof Item.lastSeq === 'number' ? Item.lastSeq : 0,
  };
}

/**
 * Moves the caller's read cursor (`readSeq` on their member item) forward to `seq`; it never moves
 * back, so receipts arriving out of order are harmless. A consistent read of META (`lastSeq`, and
 * `memberCount` for the read event), then one conditional UpdateItem. A cursor past `lastSeq` would hold unread at 0 for good and tell the others
 * "seen" of messages not yet written, so it is refused; a pushed seq is never past it (the counter moves
 * before the message is stored).
 * @returns the cursor after the call, and whether this call moved it.
 * @throws NotAMemberError when the caller is not a member (checked before a seq past the end is named).
 * @throws ValidationError when `seq` is past the conversation's last seq; nothing is written.
 */
export async function markRead(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
  userId: string,
  seq: number,
  now: Date,
): Promise<{ readSeq: number; moved: boolean; memberCount?: number }> {
  const { lastSeq, memberCount: count } = await readCounter(ddb, tables, conversationId);
  const memberCount = count === undefined ? {} : { memberCount: count };
  if (seq > lastSeq) {
    // Only a member learns where the conversation ends.
    await requireMember(ddb, tables, conversationId, userId);
    throw new ValidationError([`seq: ${seq} is past the conversation's last seq, ${lastSeq}`]);
  }
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: tables.conversations,
        Key: { conversationId, sk: memberSk(userId) },
        UpdateExpression: 'SET readSeq = :seq, readAt = :now',
        ConditionExpression:
          'attribute_exists(conversationId) AND (attribute_not_exists(readSeq) OR readSeq < :seq)',
        ExpressionAttributeValues: { ':seq': seq, ':now': now.toISOString() },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { readSeq: seq, moved: true, ...memberCount };
  } catch (err: unknown) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
    if (err.Item === undefined) throw new NotAMemberError(conversationId);
    return { readSeq: Number(err.Item.readSeq?.N ?? seq), moved: false, ...memberCount };
  }
}

/** Which of `userIds` are members already: one strongly consistent BatchGetItem. */
async function existingMembers(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
  userIds: string[],
): Promise<Set<string>> {
  const items = await batchGetAll(
    ddb,
    tables.conversations,
    userIds.map((userId) => ({ conversationId, sk: memberSk(userId) })),
    { consistentRead: true, projection: 'memberId' },
  );
  return new Set(items.map((item) => String(item.memberId)));
}

/**
 * Adds each user who is not a member yet, together with the META `memberCount`, in one transaction: the
 * count can only grow to LIMITS.maxGroupSize, and each member item is put only if it is not there, so
 * concurrent adds and retries are safe and never overwrite the original `joinedAt`/`addedBy`.
 * @returns the users actually added, in request order; existing members are left out.
 * @throws LimitExceededError when the group would grow past LIMITS.maxGroupSize (nothing is written).
 */
export async function addMembers(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  input: { conversationId: string; members: string[]; addedBy: string; now: Date },
): Promise<string[]> {
  const { conversationId } = input;
  const joinedAt = input.now.toISOString();
  const requested = [...new Set(input.members)];
  // Even if only the caller were a member, these would not fit (nor fit one transaction).
  if (requested.length >= LIMITS.maxGroupSize) throw groupTooLarge(requested.length + 1);
  for (let attempt = 1; ; attempt++) {
    const existing = await existingMembers(ddb, tables, conversationId, requested);
    const added = requested.filter((userId) => !existing.has(userId));
    if (added.length === 0) return [];
    try {
      await ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: tables.conversations,
                Key: { conversationId, sk: META_SK },
                UpdateExpression: 'ADD memberCount :added',
                ConditionExpression:
                  'attribute_exists(conversationId) AND attribute_not_exists(direct) AND memberCount <= :room',
                ExpressionAttributeValues: {
                  ':added': added.length,
                  ':room': LIMITS.maxGroupSize - added.length,
                },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            ...added.map((userId) => ({
              Put: {
                TableName: tables.conversations,
                Item: memberItem(conversationId, userId, input.addedBy, joinedAt, 'member'),
                ConditionExpression: 'attribute_not_exists(conversationId)',
              },
            })),
          ],
        }),
      );
      return added;
    } catch (err: unknown) {
      const reasons = cancellationReasons(err);
      if (reasons === undefined) throw err;
      const meta = reasons[0];
      if (meta?.Code === 'ConditionalCheckFailed' && meta.Item === undefined) {
        throw new NotAMemberError(conversationId);
      }
      if (
        meta?.Code === 'ConditionalCheckFailed' &&
        (meta.Item as { direct?: unknown } | undefined)?.direct
      ) {
        throw new ValidationError(['conversationId: a direct conversation has exactly its two members']);
      }
      if (meta?.Code === 'ConditionalCheckFailed') {
        const count = Number((meta.Item as { memberCount?: { N?: string } } | undefined)?.memberCount?.N);
        throw groupTooLarge(Number.isFinite(count) ? count + added.length : LIMITS.maxGroupSize + 1);
      }
      // Someone added one of these users meanwhile (or the transaction conflicted): look again.
      if (attempt >= ADD_MEMBERS_ATTEMPTS) throw err;
    }
  }
}

/**
 * Registers the connection's subscription, then reads the backlog after `afterSeq` and the META
 * counter. The order is guarantee G5: a message missing from the backlog was committed after the
 * subscription was stored, so its fan-out (which lists subscribers after the commit) pushes it live.
 * Without `afterSeq` the client wants live messages only; `lastSeq` tells it where it stands.
 * When `hasMore` is true the client subscribes again with `afterSeq` = the last seq it received.
 */
export async function subscribe(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations' | 'subscriptions' | 'connections' | 'messages'>,
  frame: { conversationId: string; afterSeq?: number | undefined },
  caller: { userId: string; connectionId: string },
  now: Date,
): Promise<MessagesPage> {
  const { conversationId, afterSeq } = frame;
  await putSubscription(
    ddb,
    tables,
    { conversationId, connectionId: caller.connectionId, userId: caller.userId },
    now,
  );
  const counter = await readCounter(ddb, tables, conversationId);
  const page =
    afterSeq === undefined
      ? { messages: [], hasMore: false }
      : await messagesAfter(ddb, tables, conversationId, afterSeq, { ...counter, now });
  // A send that reserved its seq after the counter was read may already be in the backlog.
  const lastSeq = Math.max(counter.lastSeq, page.messages.at(-1)?.seq ?? 0);
  return { conversationId, messages: page.messages, hasMore: page.hasMore, lastSeq };
}

/** The conversation's counter (the last reserved seq, when it was reserved) and member count: one consistent read. */
async function readCounter(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
): Promise<{ lastSeq: number; lastReservedAt?: string; memberCount?: number }> {
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.conversations,
      Key: { conversationId, sk: META_SK },
      ConsistentRead: true,
      ProjectionExpression: 'lastSeq, lastReservedAt, memberCount',
    }),
  );
  return {
    lastSeq: typeof Item?.lastSeq === 'number' ? Item.lastSeq : 0,
    ...(typeof Item?.lastReservedAt === 'string' ? { lastReservedAt: Item.lastReservedAt } : {}),
    ...(typeof Item?.memberCount === 'number' ? { memberCount: Item.memberCount } : {}),
  };
}

function memberItem(
  conversationId: string,
  userId: string,
  addedBy: string,
  joinedAt: string,
  role: MemberRole,
): Record<string, string> {
  return { conversationId, sk: memberSk(userId), memberId: userId, joinedAt, addedBy, role };
}

/** The list's order: newest activity first, then by id, so a cursor names one place in it. */
const listOrder = (a: ConversationListEntry, b: ConversationListEntry): number =>
  b.lastActivityAt.localeCompare(a.lastActivityAt) || a.conversationId.localeCompare(b.conversationId);

const cursorOf = (entry: ConversationListEntry): string => `${entry.lastActivityAt}|${entry.conversationId}`;

/** Whether `entry` comes after the one the cursor names, in list order. */
function isAfter(entry: ConversationListEntry, cursor: string): boolean {
  const split = cursor.indexOf('|');
  const named = { lastActivityAt: cursor.slice(0, split), conversationId: cursor.slice(split + 1) };
  return listOrder(named as ConversationListEntry, entry) < 0;
}

/** A stored entry as the list shows it; undefined for a dead writer's tombstone. */
function lastEntryOf(entry: StoredEntry): LastEntry | undefined {
  if (!isTombstone(entry)) {
    return {
      kind: 'message',
      seq: entry.seq,
      senderId: entry.senderId,
      sentAt: entry.sentAt,
      ...messagePreview(entry),
      ...(entry.editedAt === undefined ? {} : { edited: true as const }),
    };
  }
  if ('kind' in entry) {
    const { kind, seq, userIds, by, at } = entry as MembershipEntry;
    return { kind, seq, userIds, by, at };
  }
  if ('deleted' in entry) {
    const { seq, senderId, deletedAt } = entry as DeletedMessage;
    return { kind: 'deleted', seq, senderId, deletedAt };
  }
  return undefined;
}

/**
 * The caller's conversations, newest activity first, `limit` at a time after `cursor`. It reads the
 * caller's member items from the byMember index, the META item of each conversation (activity lives
 * there, so every page sorts them all), and the newest entry of each conversation on the page: its cost
 * grows with the number of conversations the caller belongs to, never with the number of messages. A
 * member item whose META is missing (a creation that never finished) is left out: that conversation
 * does not exist.
 */
export async function listConversations(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations' | 'messages'>,
  userId: string,
  limit: number,
  cursor?: string,
): Promise<ConversationListPage> {
  const readSeqs = new Map<string, number>();
  const pages = paginateQuery(
    { client: ddb },
    {
      TableName: tables.conversations,
      IndexName: TABLES.conversations.globalSecondaryIndexes[0].indexName,
      KeyConditionExpression: 'memberId = :u',
      ExpressionAttributeValues: { ':u': userId },
      ProjectionExpression: 'conversationId, readSeq',
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      readSeqs.set(String(item.conversationId), typeof item.readSeq === 'number' ? item.readSeq : 0);
    }
  }
  const conversationIds = [...readSeqs.keys()];
  const metas = await batchGetAll(
    ddb,
    tables.conversations,
    conversationIds.map((conversationId) => ({ conversationId, sk: META_SK })),
  );
  const listed = metas
    .map((meta): ConversationListEntry => {
      const conversationId = String(meta.conversationId);
      const lastSeq = typeof meta.lastSeq === 'number' ? meta.lastSeq : 0;
      const readSeq = readSeqs.get(conversationId) ?? 0;
      return {
        conversationId,
        ...(typeof meta.title === 'string' ? { title: meta.title } : {}),
        ...(meta.direct === true && Array.isArray(meta.members)
          ? { direct: true as const, members: meta.members.map(String) }
          : {}),
        readSeq,
        unread: Math.max(0, lastSeq - readSeq),
        createdBy: String(meta.createdBy),
        createdAt: String(meta.createdAt),
        lastSeq,
        lastActivityAt: String(meta.lastReservedAt ?? meta.createdAt),
      };
    })
    .filter((entry) => cursor === undefined || isAfter(entry, cursor))
    .sort(listOrder);
  const page = listed.slice(0, limit);
  const newest = await batchGetAll(
    ddb,
    tables.messages,
    page
      .filter((entry) => entry.lastSeq > 0)
      .map(({ conversationId, lastSeq }) => ({ conversationId, seq: lastSeq })),
  );
  const lastById = new Map(newest.map((item) => [String(item.conversationId), lastEntryOf(toEntry(item))]));
  const conversations = page.map((entry) => {
    const last = lastById.get(entry.conversationId);
    return last === undefined ? entry : { ...entry, last };
  });
  const hasMore = listed.length > limit;
  const lastListed = conversations.at(-1);
  return {
    conversations,
    hasMore,
    ...(hasMore && lastListed !== undefined ? { nextCursor: cursorOf(lastListed) } : {}),
  };
}
