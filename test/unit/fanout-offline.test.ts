/**
 * A message beyond its subscribers: offline members named on the EventBridge bus, and `activity` frames
 * to members' connections that are not subscribed to the conversation (the live conversation list).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { deliverMessage, type FanoutDeps } from '../../lambdas/fanout/fanout';
import {
  OFFLINE_DETAIL_TYPE,
  OFFLINE_EVENT_SOURCE,
  type OfflineMemberDetail,
} from '../../lambdas/fanout/offline';
import { LIMITS } from '../../shared/limits';
import type { PostResult } from '../../shared/poster';
import type { ChatMessage } from '../../shared/protocol';
import type { EditEvent } from '../../shared/queue-body';

const ddb = mockClient(DynamoDBDocumentClient);
const events = mockClient(EventBridgeClient);

const TABLES = {
  connections: 'connections-table',
  subscriptions: 'subscriptions-table',
  conversations: 'conversations-table',
};
const BUS = 'test-chat-offline';

const MESSAGE: ChatMessage = {
  conversationId: 'c1',
  seq: 7,
  senderId: 'alice',
  body: 'hello bob',
  sentAt: '2025-01-01T00:00:00.000Z',
};

interface World {
  members: string[];
  /** Subscribed connections of the conversation, with their users. */
  subscriptions: { connectionId: string; userId: string }[];
  /** Every connection of a user, as the byUser index lists them. */
  connectionsByUser: Record<string, string[]>;
}

function given(world: World): void {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    if (input.TableName === TABLES.subscriptions) return { Items: world.subscriptions };
    if (input.TableName === TABLES.conversations) {
      return { Items: world.members.map((memberId) => ({ memberId })) };
    }
    const userId = String(input.ExpressionAttributeValues?.[':u']);
    return {
      Items: (world.connectionsByUser[userId] ?? []).map((connectionId) => ({ connectionId, userId })),
    };
  });
}

/** Posts, each answered `delivered` unless the connection is in `gone`. */
function recordingPoster(gone: string[] = []): {
  post: FanoutDeps['post'];
  posts: { connectionId: string; frame: unknown }[];
} {
  const posts: { connectionId: string; frame: unknown }[] = [];
  return {
    posts,
    post: async (connectionId, data): Promise<PostResult> => {
      posts.push({ connectionId, frame: JSON.parse(data) });
      return gone.includes(connectionId)
        ? { status: 'gone', attempts: 1 }
        : { status: 'delivered', attempts: 1 };
    },
  };
}

function makeDeps(post: FanoutDeps['post']): FanoutDeps {
  return {
    ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    sqs: new SQSClient({}),
    tables: TABLES,
    eventBridge: new EventBridgeClient({}),
    eventBusName: BUS,
    deadLetterQueueUrl: 'https://sqs.local/000000000000/fanout-dlq.fifo',
    post,
    disconnect: async () => {},
    metrics: { record: vi.fn() },
    logger: new Logger({ serviceName: 'chat-fanout-test', logLevel: 'SILENT' }),
  };
}

function offlineDetails(): OfflineMemberDetail[] {
  return events
    .commandCalls(PutEventsCommand)
    .flatMap((call) => (call.args[0].input as PutEventsCommandInput).Entries ?? [])
    .map((entry) => JSON.parse(String(entry.Detail)) as OfflineMemberDetail);
}

const byUserQueries = (): number =>
  ddb.commandCalls(QueryCommand).filter((call) => call.args[0].input.IndexName === 'byUser').length;

beforeEach(() => {
  ddb.reset();
  events.reset();
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
});

describe('offline members of a message', () => {
  it('reads no members and names no one offline in a room: its audience reads it live or not at all', async () => {
    // Prepare: a room with two members, neither listening.
    given({ members: ['alice', 'bob'], subscriptions: [], connectionsByUser: {} });
    const { post } = recordingPoster();

    // Act
    const report = await deliverMessage(makeDeps(post), { ...MESSAGE, conversationId: 'room_stage' });

    // Assess
    expect(report).toMatchObject({ offline: 0, activity: 0 });
    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
    expect(
      ddb.commandCalls(QueryCommand).filter((call) => call.args[0].input.TableName === TABLES.conversations),
    ).toEqual([]);
  });

  it('names each member no connection received, but never the sender, in one PutEvents call', async () => {
    // Prepare: alice (sender) and carol listen; bob and dave have no connection at all.
    given({
      members: ['alice', 'bob', 'carol', 'dave'],
      subscriptions: [
        { connectionId: 'a1', userId: 'alice' },
        { connectionId: 'c1', userId: 'carol' },
      ],
      connectionsByUser: {},
    });
    const { post } = recordingPoster();

    // Act
    const report = await deliverMessage(makeDeps(post), MESSAGE);

    // Assess
    expect(events).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    const entries = events.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
    expect(entries.every((e) => e.EventBusName === BUS && e.Source === OFFLINE_EVENT_SOURCE)).toBe(true);
    expect(entries.every((e) => e.DetailType === OFFLINE_DETAIL_TYPE)).toBe(true);
    expect(offlineDetails()).toEqual([
      {
        userId: 'bob',
        conversationId: 'c1',
        seq: 7,
        senderId: 'alice',
        sentAt: MESSAGE.sentAt,
        preview: 'hello bob',
      },
      {
        userId: 'dave',
        conversationId: 'c1',
        seq: 7,
        senderId: 'alice',
        sentAt: MESSAGE.sentAt,
        preview: 'hello bob',
      },
    ]);
    expect(report.offline).toBe(2);
  });

  it('names a subscribed member whose only connection turned out gone', async () => {
    given({
      members: ['alice', 'bob'],
      subscriptions: [{ connectionId: 'b1', userId: 'bob' }],
      connectionsByUser: {},
    });
    const { post } = recordingPoster(['b1']);

    await deliverMessage(makeDeps(post), MESSAGE);

    expect(offlineDetails().map((d) => d.userId)).toEqual(['bob']);
  });

  it('puts nothing when every member but the sender received the message', async () => {
    given({
      members: ['alice', 'bob'],
      subscriptions: [{ connectionId: 'b1', userId: 'bob' }],
      connectionsByUser: {},
    });
    const { post } = recordingPoster();

    await deliverMessage(makeDeps(post), MESSAGE);

    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('batches the largest group in PutEvents calls of at most 10 entries', async () => {
    const members = Array.from({ length: LIMITS.maxGroupSize }, (_, i) => (i === 0 ? 'alice' : `user${i}`));
    given({ members, subscriptions: [], connectionsByUser: {} });
    const { post } = recordingPoster();

    await deliverMessage(makeDeps(post), MESSAGE);

    const sizes = events.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries?.length);
    expect(sizes).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 9]);
    expect(offlineDetails()).toHaveLength(LIMITS.maxGroupSize - 1);
  });

  it('cuts the preview to the first characters of the body, whole code points', async () => {
    given({ members: ['alice', 'bob'], subscriptions: [], connectionsByUser: {} });
    const { post } = recordingPoster();

    await deliverMessage(makeDeps(post), { ...MESSAGE, body: '👋'.repeat(LIMITS.previewChars + 5) });

    expect(offlineDetails()[0]?.preview).toBe('👋'.repeat(LIMITS.previewChars));
  });

  it('does not fail the record when EventBridge is down, since everyone subscribed already has it', async () => {
    given({ members: ['alice', 'bob'], subscriptions: [], connectionsByUser: {} });
    events.on(PutEventsCommand).rejects(new Error('unavailable'));
    const { post } = recordingPoster();

    await expect(deliverMessage(makeDeps(post), MESSAGE)).resolves.toMatchObject({ subscribers: 0 });
  });

  it('reads no members and puts no event for an edit', async () => {
    given({ members: ['alice', 'bob'], subscriptions: [], connectionsByUser: { bob: ['b1'] } });
    const { post, posts } = recordingPoster();
    const edit: EditEvent = {
      kind: 'edit',
      conversationId: 'c1',
      seq: 7,
      body: 'hi',
      version: 1,
      editedAt: MESSAGE.sentAt,
    };

    await deliverMessage(makeDeps(post), edit);

    expect(ddb.commandCalls(QueryCommand).map((call) => call.args[0].input.TableName)).toEqual([
      TABLES.subscriptions,
    ]);
    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
    expect(posts).toEqual([]);
  });
});

describe('activity for members not subscribed to the conversation', () => {
  it('posts an activity frame to every connection of an unsubscribed member, and does not name them offline', async () => {
    // Prepare: carol is connected on two sockets but subscribed to nothing here.
    given({
      members: ['alice', 'bob', 'carol'],
      subscriptions: [{ connectionId: 'b1', userId: 'bob' }],
      connectionsByUser: { carol: ['k1', 'k2'] },
    });
    const { post, posts } = recordingPoster();

    // Act
    const report = await deliverMessage(makeDeps(post), MESSAGE);

    // Assess
    const activity = {
      type: 'activity',
      conversationId: 'c1',
      seq: 7,
      senderId: 'alice',
      sentAt: MESSAGE.sentAt,
      preview: 'hello bob',
    };
    expect(posts.filter((p) => p.connectionId !== 'b1')).toEqual([
      { connectionId: 'k1', frame: activity },
      { connectionId: 'k2', frame: activity },
    ]);
    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
    expect(report.activity).toBe(1);
  });

  it("reaches the sender's other tabs that are not subscribed, looking up each member once", async () => {
    given({
      members: ['alice', 'bob'],
      subscriptions: [{ connectionId: 'b1', userId: 'bob' }],
      connectionsByUser: { alice: ['a2'], bob: ['b1'] },
    });
    const { post, posts } = recordingPoster();

    await deliverMessage(makeDeps(post), MESSAGE);

    expect(posts.map((p) => p.connectionId)).toEqual(['b1', 'a2']);
    expect(byUserQueries()).toBe(2);
  });

  it('posts activity to the tab of a member that shows another conversation while their other tab has this one open', async () => {
    // Prepare: bob's tab b1 is subscribed here; his tab b2 is not.
    given({
      members: ['alice', 'bob'],
      subscriptions: [{ connectionId: 'b1', userId: 'bob' }],
      connectionsByUser: { bob: ['b1', 'b2'] },
    });
    const { post, posts } = recordingPoster();

    // Act
    await deliverMessage(makeDeps(post), MESSAGE);

    // Assess: b1 got the message, b2 the activity frame.
    expect(posts.map((p) => [p.connectionId, (p.frame as { type: string }).type])).toEqual([
      ['b1', 'message'],
      ['b2', 'activity'],
    ]);
    expect(events).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it(`skips activity lookups in groups of more than ${LIMITS.maxActivityEventMembers} members`, async () => {
    const members = Array.from({ length: LIMITS.maxActivityEventMembers + 1 }, (_, i) =>
      i === 0 ? 'alice' : `user${i}`,
    );
    given({ members, subscriptions: [], connectionsByUser: { user1: ['u1'] } });
    const { post, posts } = recordingPoster();

    await deliverMessage(makeDeps(post), MESSAGE);

    expect(byUserQueries()).toBe(0);
    expect(posts).toEqual([]);
    expect(offlineDetails()).toHaveLength(LIMITS.maxActivityEventMembers);
  });
});
