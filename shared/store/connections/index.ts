/**
 * The connections and subscriptions tables, every read and write of them (key design: shared/tables.ts):
 *
 * - ./connections.ts: connection items (put, delete with all their subscriptions, the `announcedTo`
 *   hand-over) and subscription items (put, delete);
 * - ./presence.ts: who listens to a conversation (its subscriptions) and a user's live connections (the
 *   byUser index);
 * - ./shards.ts: where a subscription is stored: the conversation's base partition, or one of its shards
 *   once it is big (the fan-out splits by them);
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
  type SubscriptionGuard,
} from './connections';
export { indexedConnections, listListeners, otherConnection } from './presence';
export {
  conversationOfKey,
  type Listener,
  listShard,
  SHARDS_MARKER,
  type ShardRead,
  shardKey,
  shardOf,
  subscriptionPartition,
  tickMarkerUpdate,
} from './shards';
export {
  type ConnectionSlot,
  claimConnectionSlot,
  onlineUsers,
  releaseConnectionSlot,
  userKey,
} from './slots';
