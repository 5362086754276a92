/**
 * Conversation routes: create a conversation, add members, subscribe (backlog + live), unsubscribe and
 * read history. One Lambda serves them all and `$default`, so an unknown action or a malformed frame
 * gets its error frame here too.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { isAwsError, ValidationError } from '../../shared/errors';
import {
  addMembersFrameSchema,
  type ChatMessage,
  createConversationFrameSchema,
  historyFrameSchema,
  subscribeFrameSchema,
  unsubscribeFrameSchema,
} from '../../shared/protocol';
import { deleteSubscription, putSubscription } from '../../shared/store/connections';
import { requireMember } from '../../shared/store/conversations';
import { messagesAfter, messagesBefore } from '../../shared/store/messages';
import { META_SK, memberSk, type TableNames } from '../../shared/tables';
import { createRouteHandler, type RouteEvent, type RouteResult, route } from '../../shared/websocket';

/** DynamoDB refuses a TransactWriteItems call with more items than this. */
export const MAX_TRANSACTION_ITEMS = 100;

export interface ConversationsDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'conversations' | 'subscriptions' | 'messages'>;
  logger: Logger;
  /** @default () => new Date() */
  clock?: () => Date;
  /** Generates conversation ids; they must match `conversationIdSchema`. @default crypto.randomUUID */
  newId?: () => string;
}

/** A conversation as returned by `createConversation`. */
export interface ConversationSummary {
  conversationId: string;
  title?: string;
  members: string[];
  createdBy: string;
  createdAt: string;
  lastSeq: number;
}

/** The `subscribe` ack: one backlog page plus the conversation's counter at subscribe time. */
export interface SubscribeResult {
  conversationId: string;
  messages: ChatMessage[];
  hasMore: boolean;
  lastSeq: number;
}

/**
 * Builds the Lambda handler of the conversation routes and `$default`.
 *
 * - `createConversation {members, title?}` writes META and every member item (the caller included) in
 *   one transaction, so a conversation never exists without its members.
 * - `addMembers {conversationId, members}` adds those not yet members; existing members are skipped.
 * - `subscribe {conversationId, afterSeq?}` registers the subscription first and only then reads the
 *   backlog (G5): a message missing from the backlog was committed after the subscription was stored,
 *   so its fan-out pushes it live and there is no gap. Without `afterSeq` there is no backlog,
 *   only `lastSeq`. When the ack says `hasMore`, the client subscribes again with `afterSeq` = the
 *   last seq it received; subscribing again is idempotent and live messages that overlap the backlog
 *   are deduped by seq.
 * - `unsubscribe {conversationId}` removes the caller connection's subscription (idempotent).
 * - `history {conversationId, beforeSeq?, limit?}` returns a page of older messages, ascending.
 *
 * Non-members get `forbidden` from subscribe, history and addMembers before anything is written.
 */
export function createConversationsHandler(
  deps: ConversationsDeps,
): (event: RouteEvent) => Promise<RouteResult> {
  const { ddb, tables, logger } = deps;
  const clock = deps.clock ?? (() => new Date());
  const newId = deps.newId ?? randomUUID;

  return createRouteHandler(logger, {
    createConversation: route({
      schema: createConversationFrameSchema,
      run: async (frame, caller) => {
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
        return { conversationId: frame.conversationId, added };
      },
    }),
    subscribe: route({
      schema: subscribeFrameSchema,
      run: async (frame, caller) => {
        await requireMember(ddb, tables, frame.conversationId, caller.userId);
        return { ...(await subscribe(ddb, tables, frame, caller, clock())) };
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
        await requireMember(ddb, tables, frame.conversationId, caller.userId);
        const page = await messagesBefore(ddb, tables, frame.conversationId, frame.beforeSeq, frame.limit);
        return { conversationId: frame.conversationId, ...page };
      },
    }),
  });
}

/**
 * Writes the META item (counter at 0) and one item per member in a single TransactWriteItems, so a
 * conversation is never visible without its members. The members are deduplicated, first occurrence
 * first, so pass the creator first.
 * @throws ValidationError when META plus the members exceed {@link MAX_TRANSACTION_ITEMS}.
 */
export async function createConversation(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  input: { conversationId: string; title?: string; members: string[]; createdBy: string; now: Date },
): Promise<ConversationSummary> {
  const members = [...new Set(input.members)];
  if (members.length + 1 > MAX_TRANSACTION_ITEMS) {
    throw new ValidationError([
      `members: a conversation is created in one transaction of at most ${MAX_TRANSACTION_ITEMS} items ` +
        `(the conversation plus its members), so at most ${MAX_TRANSACTION_ITEMS - 1} members including ` +
        `you; got ${members.length}`,
    ]);
  }
  const createdAt = input.now.toISOString();
  const { conversationId, createdBy } = input;
  const meta = {
    conversationId,
    sk: META_SK,
    ...(input.title === undefined ? {} : { title: input.title }),
    createdBy,
    createdAt,
    lastSeq: 0,
  };
  await ddb.send(
    new TransactWriteCommand({
      TransactItems: [
        {
          Put: {
            TableName: tables.conversations,
            Item: meta,
            // A colliding id must fail the whole transaction, never reset someone else's counter.
            ConditionExpression: 'attribute_not_exists(conversationId)',
          },
        },
        ...members.map((userId) => ({
          Put: {
            TableName: tables.conversations,
            Item: memberItem(conversationId, userId, createdBy, createdAt),
          },
        })),
      ],
    }),
  );
  return {
    conversationId,
    ...(input.title === undefined ? {} : { title: input.title }),
    members,
    createdBy,
    createdAt,
    lastSeq: 0,
  };
}

/**
 * Adds each user who is not a member yet, with a conditional Put per member so that concurrent adds
 * and retries are safe and never overwrite the original `joinedAt`/`addedBy`.
 * @returns the users actually added, in request order; existing members are left out.
 */
export async function addMembers(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  input: { conversationId: string; members: string[]; addedBy: string; now: Date },
): Promise<string[]> {
  const joinedAt = input.now.toISOString();
  const outcomes = await Promise.all(
    [...new Set(input.members)].map(async (userId) => {
      try {
        await ddb.send(
          new PutCommand({
            TableName: tables.conversations,
            Item: memberItem(input.conversationId, userId, input.addedBy, joinedAt),
            ConditionExpression: 'attribute_not_exists(conversationId)',
          }),
        );
        return userId;
      } catch (err: unknown) {
        if (isAwsError(err, 'ConditionalCheckFailedException')) return undefined;
        throw err;
      }
    }),
  );
  return outcomes.filter((userId): userId is string => userId !== undefined);
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
  tables: Pick<TableNames, 'conversations' | 'subscriptions' | 'messages'>,
  frame: { conversationId: string; afterSeq?: number | undefined },
  caller: { userId: string; connectionId: string },
  now: Date,
): Promise<SubscribeResult> {
  const { conversationId, afterSeq } = frame;
  await putSubscription(
    ddb,
    tables,
    { conversationId, connectionId: caller.connectionId, userId: caller.userId },
    now,
  );
  const [counter, page] = await Promise.all([
    readLastSeq(ddb, tables, conversationId),
    afterSeq === undefined
      ? Promise.resolve({ messages: [], hasMore: false })
      : messagesAfter(ddb, tables, conversationId, afterSeq),
  ]);
  // The counter and the backlog are read concurrently; a send committed between the two reads must
  // not make lastSeq lag behind a message the client is given.
  const lastSeq = Math.max(counter, page.messages.at(-1)?.seq ?? 0);
  return { conversationId, messages: page.messages, hasMore: page.hasMore, lastSeq };
}

async function readLastSeq(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'conversations'>,
  conversationId: string,
): Promise<number> {
  const { Item } = await ddb.send(
    new GetCommand({
      TableName: tables.conversations,
      Key: { conversationId, sk: META_SK },
      ConsistentRead: true,
      ProjectionExpression: 'lastSeq',
    }),
  );
  const lastSeq = Item?.lastSeq;
  return typeof lastSeq === 'number' ? lastSeq : 0;
}

function memberItem(
  conversationId: string,
  userId: string,
  addedBy: string,
  joinedAt: string,
): Record<string, string> {
  return { conversationId, sk: memberSk(userId), memberId: userId, joinedAt, addedBy };
}
