/** The connection lifecycle: `$connect` records who is on a socket, `$disconnect` forgets it. */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { UnauthorizedError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { type RouteEvent, tokenExpiryOf, userIdOf } from '../../shared/route-kit';
import {
  claimConnectionSlot,
  connectionExpiry,
  deleteConnection,
  putConnection,
  releaseConnectionSlot,
} from '../../shared/store/connections';
import type { TableNames } from '../../shared/tables';
import type { AnnounceOffline, AnnounceOnline } from './presence';

export interface ConnectDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'connections' | 'subscriptions'>;
  logger: Pick<Logger, 'appendKeys' | 'removeKeys' | 'info' | 'warn' | 'error'>;
  now: () => Date;
  /** Open connections one user may have at once. @default LIMITS.maxConnectionsPerUser */
  maxConnectionsPerUser?: number;
  /** Tells listeners that a user's first connection opened (./presence.ts). @default none */
  announceOnline?: AnnounceOnline;
  /** Tells listeners that a user's last connection closed (./presence.ts). @default none */
  announceOffline?: AnnounceOffline;
}

/** For `$connect` a non-2xx status refuses the handshake; for `$disconnect` API Gateway ignores it. */
export interface LifecycleResult {
  statusCode: number;
  /** Why a handshake was refused, for the logs of whoever reads the raw response. */
  body?: string;
}

/**
 * The status of a `$connect` refused because its user is at LIMITS.maxConnectionsPerUser: the handshake
 * fails with it, and a client that can read it (Node's `ws`, the SDK) tells "too many connections".
 */
export const TOO_MANY_CONNECTIONS_STATUS = 429;

export type LifecycleEvent = Pick<RouteEvent, 'requestContext'>;

/**
 * Makes the handler of `$connect` and `$disconnect`, dispatching on `requestContext.eventType`.
 * `$connect` without an authorized user returns 401 and writes nothing, and one of a user already at
 * their connection cap returns 429 and writes nothing (shared/store/connections/slots.ts holds the
 * slots, across execution environments); the connection item keeps its
 * token's `exp` (the authorizer's) and expires with it. `$disconnect` is idempotent:
 * a connection already removed (by a 410 during fan-out, or by TTL) deletes nothing and still succeeds.
 */
export function createConnectHandler(deps: ConnectDeps): (event: LifecycleEvent) => Promise<LifecycleResult> {
  const { ddb, tables, logger, now } = deps;

  async function connect(event: LifecycleEvent): Promise<LifecycleResult> {
    let userId: string;
    let tokenExpiresAt: number | undefined;
    try {
      userId = userIdOf(event);
      tokenExpiresAt = tokenExpiryOf(event);
    } catch (err: unknown) {
      if (!(err instanceof UnauthorizedError)) throw err;
      logger.warn('Connection refused', { reason: err.message });
      return { statusCode: 401 };
    }
    const connectedAt = now();
    const { connectionId } = event.requestContext;
    const slot = { userId, connectionId, expiresAt: connectionExpiry(connectedAt, tokenExpiresAt) };
    const cap = deps.maxConnectionsPerUser ?? LIMITS.maxConnectionsPerUser;
    if (!(await claimConnectionSlot(ddb, tables, slot, connectedAt, cap))) {
      logger.warn('Connection refused', { reason: 'too many connections', userId, cap });
      return {
        statusCode: TOO_MANY_CONNECTIONS_STATUS,
        body: `Too many connections: at most ${cap} per user`,
      };
    }
    try {
      await putConnection(
        ddb,
        tables,
        {
          connectionId,
          userId,
          connectedAt: connectedAt.toISOString(),
          ...(tokenExpiresAt === undefined ? {} : { tokenExpiresAt }),
        },
        connectedAt,
      );
    } catch (err: unknown) {
      await releaseConnectionSlot(ddb, tables, slot);
      throw err;
    }
    await deps.announceOnline?.({ connectionId: event.requestContext.connectionId, userId });
    logger.info('Connected', { userId });
    return { statusCode: 200 };
  }

  async function disconnect(event: LifecycleEvent): Promise<LifecycleResult> {
    const { connectionId } = event.requestContext;
    const closed = await deleteConnection(ddb, tables, connectionId);
    await deps.announceOffline?.({ connectionId, ...closed });
    logger.info('Disconnected');
    return { statusCode: 200 };
  }

  return async (event) => {
    const { connectionId, eventType } = event.requestContext;
    logger.appendKeys({ connectionId });
    try {
      if (eventType === 'CONNECT') return await connect(event);
      if (eventType === 'DISCONNECT') return await disconnect(event);
      logger.warn('Unexpected event type', { eventType });
      return { statusCode: 400 };
    } catch (err: unknown) {
      logger.error('Connection lifecycle failed', {
        eventType,
        error: err instanceof Error ? err : String(err),
      });
      throw err;
    } finally {
      logger.removeKeys(['connectionId']);
    }
  };
}
