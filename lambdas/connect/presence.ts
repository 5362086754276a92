/**
 * The offline half of presence: when `$disconnect` closes a user's last connection, the listeners of
 * the conversations that connection had subscribed to get `{type:'presence', userId, online: false}`.
 * The audience is bounded by the closed connection's own `conversations` set (at most
 * LIMITS.maxSubscriptionsPerConnection), never by how many conversations the user belongs to. The online
 * half lives in `subscribe` (lambdas/conversations/ephemeral.ts): at `$connect` a connection listens to
 * nothing yet, so there is no one to tell.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EPHEMERAL_BUDGET_MS, postEphemeral } from '../../shared/ephemeral';
import type { PostFn } from '../../shared/poster';
import type { PresenceEvent } from '../../shared/protocol';
import { hasOtherConnection, listListeners } from '../../shared/store/presence';
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

/** A connection `$disconnect` just deleted: its user and the conversations it had subscribed to. */
export interface ClosedConnection {
  connectionId: string;
  userId?: string;
  conversations: string[];
}

export type AnnounceOffline = (closed: ClosedConnection) => Promise<void>;

/**
 * Makes the `$disconnect` step that announces a user offline. It runs after the connection item and its
 * subscriptions are deleted, and only if the user has no other live connection (the byUser index,
 * confirmed by a consistent read). Each listener gets the event once, however many of the
 * conversations it shares. Best effort: it never throws, and a failure is only logged.
 */
export function createOfflineAnnouncer(deps: OfflineDeps): AnnounceOffline {
  return async (closed) => {
    try {
      await announceOffline(deps, closed);
    } catch (err: unknown) {
      deps.logger.warn('Could not announce the user offline', {
        error: err instanceof Error ? err : String(err),
      });
    }
  };
}

async function announceOffline(deps: OfflineDeps, closed: ClosedConnection): Promise<void> {
  const { userId, conversations } = closed;
  if (userId === undefined || conversations.length === 0) return;
  if (await hasOtherConnection(deps.ddb, deps.tables, userId, closed.connectionId, deps.now())) return;
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
  const event: PresenceEvent = { type: 'presence', userId, online: false };
  const report = await postEphemeral(deps.post, [...targets], JSON.stringify(event), {
    budgetMs: deps.postBudgetMs ?? EPHEMERAL_BUDGET_MS,
  });
  deps.logger.debug('Offline posted', { ...report });
}
