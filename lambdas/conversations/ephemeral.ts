/**
 * Typing and presence: events that are never stored and never queued. They go straight from this
 * function to the listening connections through the management API (shared/ephemeral.ts), so they
 * cannot delay a message, and a lost one is simply lost.
 *
 * - `typing {conversationId}`: one conditional UpdateItem of the caller's member item is both the
 *   membership check and the per-user throttle (`typingAt`, at most one event per LIMITS.typingThrottleMs);
 *   then the conversation's listeners, except the caller's own connections, get `{type:'typing'}`.
 * - `presence {conversationId}`: the members (one consistent Query) and which of them have a live
 *   connection (their connection slots: one BatchGetItem for up to 100 members), with their read
 *   cursors in small groups.
 * - In a room (docs/rooms.md) neither goes to the audience: `typing` is acked `throttled` and
 *   `presence` names only the caller, after one membership check (GetItem) each; nor does `subscribe`
 *   announce anyone.
 * - On a `read` that moved the cursor, {@link postReadEvent}: `{type:'read'}` to the listeners, in
 *   conversations of at most LIMITS.maxReadEventMembers members.
 * - On `subscribe`, {@link prepareOnlineAnnouncement}: a connection that is the first of its user to
 *   listen to a conversation announces `{type:'presence', online: true}` to that conversation's listeners.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EPHEMERAL_BUDGET_MS, logEphemeral, postEphemeral } from '../../shared/ephemeral';
import { NotAMemberError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import type { PostFn } from '../../shared/poster';
import type { PresenceAck, PresenceEvent, ReadEvent, TypingAck, TypingEvent } from '../../shared/protocol';
import type { ActionRoutes, Caller } from '../../shared/route-kit';
import { listListeners, onlineUsers } from '../../shared/store/connections';
import { isRoomId, listMemberCursors, requireMember, takeTypingSlot } from '../../shared/store/conversations';
import type { TableNames } from '../../shared/tables';

export interface EphemeralDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'conversations' | 'subscriptions' | 'connections'>;
  /** Posts one frame to one connection (shared/poster.ts, with EPHEMERAL_POSTER_OPTIONS). */
  post: PostFn;
  logger: Pick<Logger, 'debug' | 'warn'>;
  clock: () => Date;
  /** @default EPHEMERAL_BUDGET_MS */
  postBudgetMs?: number;
}

/** Who is asking: the user and the connection the frame came on. */
type Asker = Pick<Caller, 'userId' | 'connectionId'>;

/** The `typing` and `presence` routes, for the conversations handler's route table. */
export function ephemeralRoutes(deps: EphemeralDeps): Pick<Required<ActionRoutes>, 'typing' | 'presence'> {
  return {
    typing: (frame, caller) => sendTyping(deps, frame.conversationId, caller),
    presence: (frame, caller) => presence(deps, frame.conversationId, caller.userId),
  };
}

/**
 * Marks the caller as typing and tells the conversation's other listeners, unless the caller did so
 * less than LIMITS.typingThrottleMs ago. One UpdateItem does the membership check and the throttle: it
 * sets `typingAt` on the caller's member item only if that item exists and `typingAt` is older than the
 * window. A throttled event is acked `throttled: true` and posts nothing. The listeners are read
 * eventually consistently (a subscription a moment old may miss one typing event, which repeats).
 * The ack comes after the posts: Lambda freezes the environment once the handler returns, so posts
 * left running would be lost or land late in a later invocation; they are bounded in time instead.
 * @throws NotAMemberError when the caller is not a member (nothing is written or posted).
 */
export async function sendTyping(
  deps: EphemeralDeps,
  conversationId: string,
  caller: Asker & { signal?: AbortSignal },
): Promise<TypingAck> {
  // A room's audience hears no typing: each typist would cost a post to every viewer.
  if (isRoomId(conversationId)) {
    await requireMember(deps.ddb, deps.tables, conversationId, caller.userId, caller.signal);
    return { conversationId, throttled: true };
  }
  const now = deps.clock().getTime();
  if (!(await takeTypingSlot(deps.ddb, deps.tables, conversationId, caller.userId, now, caller.signal))) {
    return { conversationId, throttled: true };
  }
  const listeners = await listListeners(deps.ddb, deps.tables, conversationId, { consistent: false });
  const targets = listeners
    .filter((listener) => listener.userId !== caller.userId && listener.connectionId !== caller.connectionId)
    .map((listener) => listener.connectionId);
  const event: TypingEvent = { type: 'typing', conversationId, userId: caller.userId };
  const report = await postEphemeral(deps.post, targets, JSON.stringify(event), {
    budgetMs: deps.postBudgetMs ?? EPHEMERAL_BUDGET_MS,
  });
  logEphemeral(deps.logger, 'Typing posted', report);
  return { conversationId, throttled: false };
}

/**
 * The members of a conversation who have at least one live connection, in member order, and, in
 * conversations of at most LIMITS.maxReadEventMembers members, every member's read cursor. One
 * consistent Query reads the member items (at most LIMITS.maxGroupSize), cursors included at no extra
 * cost, which is also the caller's membership check; then one BatchGetItem of the other members'
 * connection slots (shared/store/connections/slots.ts; the caller is online: they asked). Two requests for a
 * group of 100, where a byUser index Query per member cost 100. Cursors follow the rule of `read` pushes: a client that hears those
 * gets the same receipts after a reload, and a large group, which hears none, gets none here.
 * @throws NotAMemberError when the caller is not a member.
 */
export async function presence(
  deps: Pick<EphemeralDeps, 'ddb' | 'tables' | 'clock'>,
  conversationId: string,
  userId: string,
): Promise<PresenceAck> {
  // A room lists no members (there may be thousands): its audience is roomInfo's memberCount.
  if (isRoomId(conversationId)) {
    await requireMember(deps.ddb, deps.tables, conversationId, userId);
    return { conversationId, online: [userId] };
  }
  const cursors = await listMemberCursors(deps.ddb, deps.tables, conversationId);
  const members = cursors.map((member) => member.userId);
  if (!members.includes(userId)) throw new NotAMemberError(conversationId);
  const others = await onlineUsers(
    deps.ddb,
    deps.tables,
    members.filter((member) => member !== userId),
    deps.clock(),
  );
  const online = members.filter((member) => member === userId || others.has(member));
  if (members.length > LIMITS.maxReadEventMembers) return { conversationId, online };
  return { conversationId, online, readSeqs: cursors };
}

/**
 * Reads, before `subscribe` stores the subscription, who already listens to the conversation. If none
 * of those connections is the caller's user's (this one included: a re-subscribe is no news), the
 * returned function announces `{type:'presence', userId, online: true}` to them; call it once the
 * subscription is stored, before answering. Reading before storing means two connections of one user
 * subscribing at once may both announce (harmless: the event is idempotent), never neither. The read is
 * consistent, so a connection that closed a moment ago (and announced "offline") is not taken for one
 * still listening.
 */
export async function prepareOnlineAnnouncement(
  deps: EphemeralDeps,
  conversationId: string,
  caller: Asker,
): Promise<() => Promise<void>> {
  const listeners = await listListeners(deps.ddb, deps.tables, conversationId, { consistent: true });
  const alreadyThere = listeners.some(
    (listener) => listener.userId === caller.userId || listener.connectionId === caller.connectionId,
  );
  if (alreadyThere || listeners.length === 0) return async () => {};
  const event: PresenceEvent = { type: 'presence', userId: caller.userId, online: true };
  return async () => {
    const report = await postEphemeral(
      deps.post,
      listeners.map((listener) => listener.connectionId),
      JSON.stringify(event),
      { budgetMs: deps.postBudgetMs ?? EPHEMERAL_BUDGET_MS },
    );
    logEphemeral(deps.logger, 'Online posted', report);
  };
}

/**
 * Tells the conversation's listeners (every subscribed connection but the caller's own, so the reader's
 * other tabs hear it too) that the caller's read cursor moved to `seq`. Skipped, with no post, when the
 * conversation has more than LIMITS.maxReadEventMembers members (`memberCount`, which the read of META
 * before the cursor moved gave), else one eventually consistent Query of the listeners. Best effort, like
 * typing: the cursor itself is stored, and `listConversations` reads it.
 * @returns whether the event was posted (false: the group is too large).
 */
export async function postReadEvent(
  deps: EphemeralDeps,
  conversationId: string,
  caller: Asker,
  seq: number,
  memberCount: number | undefined,
): Promise<boolean> {
  // A META without a count is treated as a large group: no push is the safe side.
  if ((memberCount ?? Number.POSITIVE_INFINITY) > LIMITS.maxReadEventMembers) return false;
  const listeners = await listListeners(deps.ddb, deps.tables, conversationId, { consistent: false });
  const targets = listeners
    .filter((listener) => listener.connectionId !== caller.connectionId)
    .map((listener) => listener.connectionId);
  const event: ReadEvent = { type: 'read', conversationId, userId: caller.userId, seq };
  const report = await postEphemeral(deps.post, targets, JSON.stringify(event), {
    budgetMs: deps.postBudgetMs ?? EPHEMERAL_BUDGET_MS,
  });
  logEphemeral(deps.logger, 'Read posted', report);
  return true;
}
