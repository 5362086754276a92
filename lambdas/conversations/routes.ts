/**
 * Conversation routes: create a conversation, add members, subscribe (backlog + live), unsubscribe and
 * read history. One Lambda serves them all and `$default`, so an unknown action or a malformed frame
 * gets its error frame here too.
 *
 * The route table below; the routes with more than a few steps live beside it:
 * - ./direct.ts: `createConversation` with `direct: true`, the one conversation of two users;
 * - ./subscribe.ts: `subscribe`, the subscription before the backlog, and the check after it;
 * - ./list.ts: `listConversations`;
 * - ./membership/: group creation, `addMembers`, `removeMember`, `leave`, `promote` and `accept`, each
 *   change recorded in the conversation's order; invitations, the block list and `setWhoCanAdd`;
 * - ./ephemeral.ts: `typing` and `presence`, and the posts of `read` and `subscribe`;
 * - ./rooms.ts: `createRoom`, `joinRoom`, `setSlowMode`, `roomInfo`, and what a room changes of
 *   `leave`, `removeMember` and `addMembers`.
 * Every read and write of the conversations table is in shared/store/conversations/.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as wait } from 'node:timers/promises';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LIMITS } from '../../shared/limits';
import type { MetricSink } from '../../shared/metrics';
import type { DisconnectFn } from '../../shared/poster';
import {
  type ActionHandler,
  type ActionRoute,
  createActionHandler,
  routeKitOf,
  type UserBudget,
} from '../../shared/route-kit';
import { deleteSubscription } from '../../shared/store/connections';
import { isRoomId, markRead, readCounter, requireMember } from '../../shared/store/conversations';
import { messagesBefore } from '../../shared/store/messages';
import type { TableNames } from '../../shared/tables';
import { openDirect } from './direct';
import { type EphemeralDeps, ephemeralRoutes, postReadEvent, prepareOnlineAnnouncement } from './ephemeral';
import { listConversations } from './list';
import {
  addMembers,
  blockRoutes,
  createGroup,
  invitationRoutes,
  type MembershipDeps,
  membershipRoutes,
} from './membership';
import { type RoomDeps, roomAwareMembership, roomRoutes } from './rooms';
import { subscribe } from './subscribe';

export interface ConversationsDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'conversations' | 'subscriptions' | 'connections' | 'messages'>;
  logger: Logger;
  /** Closes a connection that keeps sending while refused (the route kit's `disconnect`). */
  disconnect: DisconnectFn;
  /** Counts the route kit's `busy` and `rate_limited` answers and the tombstones a reader fills. */
  metrics: MetricSink;
  /** @default () => new Date() */
  clock?: () => Date;
  /** Each frame's per-user budget (the route kit's `userBudget`). @default none */
  userBudget?: UserBudget;
  /** Generates conversation ids; they must match `conversationIdSchema`. @default crypto.randomUUID */
  newId?: () => string;
  /** Waits between the attempts of opening a direct conversation (./direct.ts). @default a real timer */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Posting to connections (./ephemeral.ts): serves `typing` and `presence` and makes `subscribe`
   * announce a user's arrival. @default none: no such routes, and subscribe announces nothing
   */
  ephemeral?: Pick<EphemeralDeps, 'post' | 'postBudgetMs'>;
  /**
   * The fan-out queue (./membership/): serves `removeMember` and `leave`, and makes `addMembers` record
   * its change in the conversation's order. @default none: no such routes, and adds record nothing
   */
  membership?: Pick<MembershipDeps, 'sqs' | 'fanoutQueueUrl'>;
}

/**
 * Builds the Lambda handler of the conversation routes and `$default`.
 *
 * - `createConversation {members, title?}` writes META and every member item (the caller included) in
 *   one transaction (up to 49 members; more in up to 3, META in the last), so a conversation never exists
 *   without its members; users whose `whoCanAdd` does not admit the caller are invited instead
 *   (./membership/create.ts).
 * - `addMembers {conversationId, members}` adds those not yet members (as plain members; the creator is
 *   the admin); existing members are skipped. With `deps.membership` the change takes a seq.
 * - `removeMember`, `leave` and `promote` (./membership/), with `deps.membership`.
 * - `block`, `unblock`, `listBlocked` and `setWhoCanAdd` (./membership/blocks.ts); `listInvitations`,
 *   `accept` and `decline` (./membership/invitations.ts).
 * - Every write that makes someone a member (create, direct, add, accept) takes their conversation slot
 *   and is refused when they block the caller (shared/store/conversations/profiles.ts); a user whose
 *   `whoCanAdd` does not admit the caller is invited rather than added (./membership/consent.ts).
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
 * Non-members get `forbidden` from subscribe, history and addMembers before anything is written (a
 * subscribe's check is a condition of its transaction, ./subscribe.ts).
 */
export function createConversationsHandler(deps: ConversationsDeps): ActionHandler {
  const { ddb, tables, logger, metrics } = deps;
  const clock = deps.clock ?? (() => new Date());
  const newId = deps.newId ?? randomUUID;
  const sleep = deps.sleep ?? ((ms: number) => wait(ms));
  const ephemeral: EphemeralDeps | undefined =
    deps.ephemeral === undefined ? undefined : { ...deps.ephemeral, ddb, tables, logger, clock };
  // With posting too, a change reaches the users it names (./membership/record.ts, tellNamedUsers).
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

  const rooms: RoomDeps = {
    ddb,
    tables,
    logger,
    clock,
    newId,
    ...(deps.ephemeral && { post: deps.ephemeral.post }),
  };
  const { disconnect, userBudget } = deps;
  const kit = routeKitOf({ logger, now: clock, disconnect, metrics, ...(userBudget && { userBudget }) });
  const addMembersRoute: ActionRoute<'addMembers'> = (frame, caller) =>
    addMembers({ ddb, tables, clock, membership }, frame, caller.userId);
  const memberRoutes = membership === undefined ? {} : membershipRoutes(membership);
  return createActionHandler(kit, {
    ...(ephemeral === undefined ? {} : ephemeralRoutes(ephemeral)),
    ...memberRoutes,
    ...roomRoutes(rooms),
    ...roomAwareMembership({ ...memberRoutes, addMembers: addMembersRoute }, rooms),
    ...blockRoutes({ ddb, tables }),
    ...invitationRoutes({ ddb, tables, clock, membership }),
    createConversation: async (frame, caller) => {
      if (frame.direct === true) {
        const conversation = await openDirect(ddb, tables, caller.userId, frame, clock(), sleep);
        logger.appendKeys({ conversationId: conversation.conversationId });
        return { conversation };
      }
      const conversationId = newId();
      logger.appendKeys({ conversationId });
      const conversation = await createGroup(
        { ddb, tables, membership },
        { conversationId, title: frame.title, members: frame.members, callerId: caller.userId, now: clock() },
      );
      logger.info('Conversation created', { memberCount: conversation.members.length });
      return { conversation };
    },
    read: async (frame, caller) => {
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
    listConversations: (frame, caller) =>
      listConversations(ddb, tables, caller.userId, frame.limit ?? LIMITS.defaultPageSize, frame.cursor),
    ping: async () => ({}),
    subscribe: async (frame, caller) => {
      // A room announces nobody: its audience would hear every viewer arrive.
      const announceOnline =
        ephemeral && !isRoomId(frame.conversationId)
          ? await prepareOnlineAnnouncement(ephemeral, frame.conversationId, caller)
          : undefined;
      const page = await subscribe(ddb, tables, frame, caller, clock(), metrics);
      await announceOnline?.();
      return page;
    },
    unsubscribe: async (frame, caller) => {
      await deleteSubscription(ddb, tables, {
        conversationId: frame.conversationId,
        connectionId: caller.connectionId,
      });
      return { conversationId: frame.conversationId };
    },
    history: async (frame, caller) => {
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
        metrics,
        frame.limit,
      );
      const lastSeq = Math.max(counter.lastSeq, page.messages.at(-1)?.seq ?? 0);
      return { conversationId: frame.conversationId, ...page, lastSeq };
    },
  });
}
