/**
 * Presence at the connection's edges. Online: when `$connect` opens a user's first connection, the
 * listeners of up to LIMITS.onlineAnnouncedConversations of the user's conversations get
 * `{type:'presence', userId, online: true}`, and those conversations are written to the new connection's
 * `announcedTo` set first, so that the user's last connection to close tells the same listeners the
 * user went offline. A conversation past that bound hears the user when one of their connections
 * subscribes to it (lambdas/conversations/ephemeral.ts).
 *
 * The offline half of presence: when `$disconnect` closes a user's last connection, the listeners of
 * the conversations where that user was announced online get `{type:'presence', userId, online: false}`:
 * those the closed connection had subscribed to, and those its user's earlier-closed connections had
 * (see below), and those announced at `$connect`. The audience is bounded by what the user's
 * connections subscribed to and the bound above, never by how many conversations the user belongs to.
 *
 * A connection that closes while its user has another one hands its audience over: one UpdateItem adds
 * its conversations to that connection's `announcedTo` set, so that a tab which listened to a
 * conversation and closed first does not leave its listeners seeing the user online after the user's
 * last tab closed. If the other connection is gone by then (its own `$disconnect` ran first), the
 * condition fails and this one announces offline itself: at least once, never zero times.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EPHEMERAL_BUDGET_MS, logEphemeral, postEphemeral } from '../../shared/ephemeral';
import { LIMITS } from '../../shared/limits';
import type { PostFn } from '../../shared/poster';
import type { PresenceEvent } from '../../shared/protocol';
import { addAnnounced, listListeners, otherConnection } from '../../shared/store/connections';
import { isRoomId, memberConversationIds } from '../../shared/store/conversations';
import type { TableNames } from '../../shared/tables';

/** Subscription partitions read at once while gathering the audience. */
const AUDIENCE_CONCURRENCY = 10;

export interface OfflineDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'connections' | 'subscriptions'>;
  /** Posts one frame to one connection (shared/poster.ts, with EPHEMERAL_POSTER_OPTIONS). */
  post: PostFn;
  logger: Pick<Logger, 'debug' | 'warn'>;
  now: () => Date;
  /** @default EPHEMERAL_BUDGET_MS */
  postBudgetMs?: number;
}

/**
 * A connection `$disconnect` just deleted: its user, the conversations it had subscribed to, and those
 * handed over to it by the user's connections that closed before it (`announced`).
 */
export interface ClosedConnection {
  connectionId: string;
  userId?: string;
  conversations: string[];
  announced?: string[];
}

export type AnnounceOffline = (closed: ClosedConnection) => Promise<void>;

/** A connection `$connect` just stored. */
export interface OpenedConnection {
  connectionId: string;
  userId: string;
}

export type AnnounceOnline = (opened: OpenedConnection) => Promise<void>;

export interface OnlineDeps extends Omit<OfflineDeps, 'tables'> {
  tables: Pick<TableNames, 'connections' | 'subscriptions' | 'conversations'>;
}

/** Runs an announcement as best effort: it never throws, and a failure is only logged. */
function bestEffort<T>(
  deps: Pick<OfflineDeps, 'logger'>,
  what: string,
  announce: (subject: T) => Promise<void>,
): (subject: T) => Promise<void> {
  return async (subject) => {
    try {
      await announce(subject);
    } catch (err: unknown) {
      deps.logger.warn(`Could not announce the user ${what}`, {
        error: err instanceof Error ? err : String(err),
      });
    }
  };
}

/**
 * Makes the `$connect` step that announces a user online when this is their only live connection (the
 * same byUser check as offline's). Best effort: it never throws, and a failure is only logged.
 */
export function createOnlineAnnouncer(deps: OnlineDeps): AnnounceOnline {
  return bestEffort(deps, 'online', (opened: OpenedConnection) => announceOnline(deps, opened));
}

async function announceOnline(deps: OnlineDeps, opened: OpenedConnection): Promise<void> {
  const { userId, connectionId } = opened;
  if ((await otherConnection(deps.ddb, deps.tables, userId, connectionId, deps.now())) !== undefined) return;
  // Rooms are left out: each viewer's arrival would otherwise be pushed to the whole audience.
  const conversations = (
    await memberConversationIds(deps.ddb, deps.tables, userId, LIMITS.onlineAnnouncedConversations)
  ).filter((id) => !isRoomId(id));
  if (conversations.length === 0) return;
  // Whoever hears "online" must hear "offline" too: the audience goes on the connection before the posts.
  if (!(await addAnnounced(deps.ddb, deps.tables, connectionId, conversations))) return;
  const event: PresenceEvent = { type: 'presence', userId, online: true };
  await postToListeners(deps, userId, conversations, event);
}

/**
 * Makes the `$disconnect` step that announces a user offline. It runs after the connection item and its
 * subscriptions are deleted, and only if the user has no other live connection (the byUser index,
 * confirmed by a consistent read). Each listener gets the event once, however many of the
 * conversations it shares. Best effort: it never throws, and a failure is only logged.
 */
export function createOfflineAnnouncer(deps: OfflineDeps): AnnounceOffline {
  return bestEffort(deps, 'offline', (closed: ClosedConnection) => announceOffline(deps, closed));
}

async function announceOffline(deps: OfflineDeps, closed: ClosedConnection): Promise<void> {
  const { userId } = closed;
  const conversations = [...new Set([...closed.conversations, ...(closed.announced ?? [])])].filter(
    (id) => !isRoomId(id),
  );
  if (userId === undefined || conversations.length === 0) return;
  const survivor = await otherConnection(deps.ddb, deps.tables, userId, closed.connectionId, deps.now());
  if (survivor !== undefined && (await addAnnounced(deps.ddb, deps.tables, survivor, conversations))) return;
  await postToListeners(deps, userId, conversations, { type: 'presence', userId, online: false });
}

/** Posts `event` once to each connection subscribed to any of `conversations`, but `userId`'s own. */
async function postToListeners(
  deps: OfflineDeps,
  userId: string,
  conversations: string[],
  event: PresenceEvent,
): Promise<void> {
  const targets = new Set<string>();
  for (let start = 0; start < conversations.length; start += AUDIENCE_CONCURRENCY) {
    const partitions = await Promise.all(
      conversations
        .slice(start, start + AUDIENCE_CONCURRENCY)
        .map((conversationId) => listListeners(deps.ddb, deps.tables, conversationId, { consistent: false })),
    );
    for (const listener of partitions.flat()) {
      if (listener.userId !== userId) targets.add(listener.connectionId);
    }
  }
  const report = await postEphemeral(deps.post, [...targets], JSON.stringify(event), {
    budgetMs: deps.postBudgetMs ?? EPHEMERAL_BUDGET_MS,
  });
  logEphemeral(deps.logger, event.online ? 'Online posted' : 'Offline posted', report);
}
