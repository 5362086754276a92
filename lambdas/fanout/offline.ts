/**
 * What a message does beyond its subscribers: members with no connection that received it are named in
 * one event each on the offline EventBridge bus (for a push-notification service), and members' connections
 * that are not subscribed to the conversation get a small `activity` frame (the live conversation list).
 * Both reuse the subscriber list the fan-out already read, and share one Query of the members.
 */

import type { Logger } from '@aws-lambda-powertools/logger';
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mapWithConcurrency } from '../../shared/concurrency';
import { EPHEMERAL_BUDGET_MS, logEphemeral, postEphemeralTo } from '../../shared/ephemeral';
import { LIMITS } from '../../shared/limits';
import type { PostFn } from '../../shared/poster';
import { type ActivityFrame, type ChatMessage, messagePreview } from '../../shared/protocol';
import { indexedConnections } from '../../shared/store/connections';
import { isRoomId, listMembers } from '../../shared/store/conversations';
import type { TableNames } from '../../shared/tables';

/** The `source` of every offline-member event; a rule matches on it and on OFFLINE_DETAIL_TYPE. */
export const OFFLINE_EVENT_SOURCE = 'serverless-chat';
export const OFFLINE_DETAIL_TYPE = 'MemberOffline';

/** PutEvents takes at most 10 entries per call. */
const PUT_EVENTS_MAX_ENTRIES = 10;

/** The `detail` of an offline-member event. */
export interface OfflineMemberDetail {
  userId: string;
  conversationId: string;
  seq: number;
  senderId: string;
  sentAt: string;
  /** The first LIMITS.previewChars characters of the body (whole code points). */
  preview: string;
}

export interface OfflineDeps {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'conversations' | 'connections'>;
  /** Absent: no offline events (the stack wires the bus to the fan-out function only). */
  eventBridge?: Pick<EventBridgeClient, 'send'>;
  eventBusName?: string;
  post: PostFn;
  logger: Pick<Logger, 'warn' | 'debug'>;
  concurrency: number;
  /** No `activity` post starts later than this after the first. @default EPHEMERAL_BUDGET_MS */
  activityBudgetMs?: number;
}

/** Who the fan-out reached: the subscribed connections, and the users whose connections got the message. */
export interface Reach {
  subscribedConnections: ReadonlySet<string>;
  reachedUsers: ReadonlySet<string>;
}

export interface OfflineReport {
  /** Members named in an offline event. */
  offline: number;
  /** Members whose unsubscribed connections took an `activity` frame. */
  activity: number;
}

/**
 * Puts one event per offline member, in PutEvents calls of at most 10 entries (one call for groups of
 * up to 10 members, at most 10 for the largest group). Entries EventBridge refuses are logged.
 */
async function putOfflineEvents(deps: OfflineDeps, message: ChatMessage, userIds: string[]): Promise<void> {
  if (deps.eventBridge === undefined || deps.eventBusName === undefined || userIds.length === 0) return;
  const entries: PutEventsRequestEntry[] = userIds.map((userId) => {
    const detail: OfflineMemberDetail = {
      userId,
      conversationId: message.conversationId,
      seq: message.seq,
      senderId: message.senderId,
      sentAt: message.sentAt,
      preview: messagePreview(message).preview,
    };
    return {
      EventBusName: deps.eventBusName,
      Source: OFFLINE_EVENT_SOURCE,
      DetailType: OFFLINE_DETAIL_TYPE,
      Detail: JSON.stringify(detail),
    };
  });
  for (let start = 0; start < entries.length; start += PUT_EVENTS_MAX_ENTRIES) {
    const { FailedEntryCount } = await deps.eventBridge.send(
      new PutEventsCommand({ Entries: entries.slice(start, start + PUT_EVENTS_MAX_ENTRIES) }),
    );
    if ((FailedEntryCount ?? 0) > 0)
      deps.logger.warn('EventBridge refused offline events', { FailedEntryCount });
  }
}

/**
 * Posts an `activity` frame to every connection of `userIds` (found through the byUser index) that is
 * not in `subscribed`: those got the message itself.
 * @returns The users at least one of whose connections took the frame.
 */
async function postActivity(
  deps: OfflineDeps,
  message: ChatMessage,
  userIds: string[],
  subscribed: ReadonlySet<string>,
): Promise<Set<string>> {
  const frame: ActivityFrame = {
    type: 'activity',
    conversationId: message.conversationId,
    seq: message.seq,
    senderId: message.senderId,
    sentAt: message.sentAt,
    ...messagePreview(message),
  };
  const data = JSON.stringify(frame);
  const perUser = await mapWithConcurrency(userIds, deps.concurrency, (userId) =>
    indexedConnections(deps.ddb, deps.tables, userId),
  );
  const targets = perUser.flatMap((result, index) =>
    result.status === 'fulfilled'
      ? result.value
          .filter((connectionId) => !subscribed.has(connectionId))
          .map((connectionId) => ({ connectionId, userId: userIds[index] ?? '' }))
      : [],
  );
  // Best effort, like typing: a 410 here is left to the next message fan-out, $disconnect or TTL, and
  // posts past the time budget are dropped, so a group full of sockets cannot hold the record.
  const { report, reached } = await postEphemeralTo(
    deps.post,
    targets.map((target) => target.connectionId),
    data,
    { concurrency: deps.concurrency, budgetMs: deps.activityBudgetMs ?? EPHEMERAL_BUDGET_MS },
  );
  logEphemeral(deps.logger, 'Activity posted', report);
  return new Set(targets.filter((target) => reached.has(target.connectionId)).map((target) => target.userId));
}

/**
 * After a message reached its subscribers: one consistent Query of the members; in groups of at most
 * LIMITS.maxActivityEventMembers, an `activity` frame to every connection of every member (the sender's
 * included) that is not subscribed to the conversation, so a tab showing another conversation hears it
 * even while the user's other tab has this one open; then an offline event for each member but the
 * sender whom neither the message nor an activity frame reached. Best effort: a failure is logged and
 * never fails the record, since a retry would push the message again to everyone who already has it.
 */
export async function notifyBeyondSubscribers(
  deps: OfflineDeps,
  message: ChatMessage,
  reach: Reach,
): Promise<OfflineReport> {
  // A room's audience reads it live or not at all: reading every member of a 100,000-viewer room and
  // naming each one offline, for every message, would cost more than the message itself.
  if (isRoomId(message.conversationId)) return { offline: 0, activity: 0 };
  try {
    const members = await listMembers(deps.ddb, deps.tables, message.conversationId);
    const lookedUp = members.length <= LIMITS.maxActivityEventMembers ? members : [];
    const active = await postActivity(deps, message, lookedUp, reach.subscribedConnections);
    const offline = members.filter(
      (userId) => userId !== message.senderId && !reach.reachedUsers.has(userId) && !active.has(userId),
    );
    await putOfflineEvents(deps, message, offline);
    return { offline: offline.length, activity: active.size };
  } catch (err: unknown) {
    deps.logger.warn('Could not notify members beyond the subscribers', { error: err });
    return { offline: 0, activity: 0 };
  }
}
