/**
 * The connections and subscriptions tables, every read and write of them (key design: shared/tables.ts):
 *
 * - ./connections.ts: connection items (put, delete with all their subscriptions, the `announcedTo`
 *   hand-over) and subscription items (put, delete);
 * - ./presence.ts: who listens to a conversation (its subscriptions) and a user's live connections (the
 *   byUser index);
 * - ./slots.ts: a user's connection slots on their `USER#<userId>` item in the connections table (the
 *   connection cap, who is online);
 * - ./budgets.ts: a user's frame budgets by cost class, on the same item.
 */
export { takeUserToken } from './budgets';
export {
  ANNOUNCED_ATTRIBUTE,
  addAnnounced,
  type ConnectionRecord,
  connectionExpiry,
  deleteConnection,
  deleteSubscription,
  putConnection,
  putSubscription,
} from './connections';
export { indexedConnections, type Listener, listListeners, otherConnection } from './presence';
export {
  type ConnectionSlot,
  claimConnectionSlot,
  onlineUsers,
  releaseConnectionSlot,
  userKey,
} from './slots';
