/**
 * The hot-conversation burst (G9): many users send into one conversation at once, resending any send
 * that gets no answer in time, like a client SDK. Shared by `npm run bench` (100 users × 10) and the
 * end-to-end test (a smaller burst), so both measure the same thing the same way.
 */
import type { LocalRuntime } from '../local/runtime';
import { storedMessageItems } from '../local/stored-messages';
import { type AwsRequest, observeAwsRequests } from '../shared/invocation';
import { LIMITS } from '../shared/limits';
import { ChatClient, type Frame } from '../test/e2e/chat-client';
import { letAnyoneAdd } from '../test/e2e/helpers';

export interface BurstOptions {
  users: number;
  messagesPerUser: number;
  /** A send with no answer after this long is resent with the same clientMessageId. */
  resendAfterMs: number;
  /** Distinguishes this run's users and conversation from others on the same runtime. */
  tag: string;
}

export interface BurstResult {
  messages: number;
  ackedInMs: number;
  deliveredInMs: number;
  /** Sends that had to be resent because no answer came in time. */
  resentUnanswered: number;
  /** `busy` answers, each resent after its retryAfterMs. */
  busyAnswers: number;
  /** Replies that carried no client requestId: API Gateway's own `{"message":"Internal server error"}` frame, or an error frame without one. */
  repliesWithoutRequestId: number;
  /** Stored seqs, ascending, read from DynamoDB after the burst. */
  storedSeqs: number[];
  tombstones: number;
  /** Subscribers that hold every seq. */
  completeSubscribers: number;
  /** AWS requests made by the send function, per stored message. */
  sendCallsPerMessage: number;
  sendCallsByCommand: Record<string, number>;
}

export interface SequentialResult {
  messages: number;
  elapsedMs: number;
  sendCallsPerMessage: number;
}

/** Counts the AWS requests the send function makes while `work` runs. */
async function countSendCalls<T>(
  work: () => Promise<T>,
): Promise<{ result: T; calls: number; byCommand: Record<string, number> }> {
  const byCommand: Record<string, number> = {};
  let calls = 0;
  const stop = observeAwsRequests((request: AwsRequest) => {
    if (request.functionName !== 'send') return;
    calls++;
    byCommand[request.command] = (byCommand[request.command] ?? 0) + 1;
  });
  try {
    return { result: await work(), calls, byCommand };
  } finally {
    stop();
  }
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What it took to get sends acked: resends after silence, and `busy` answers waited out. */
export interface SendStats {
  resentUnanswered: number;
  busyAnswers: number;
}

/**
 * Sends one message until it is acked, as the client SDK does: an unanswered send is resent after
 * `resendAfterMs`, always with the same clientMessageId; a `busy` answer is waited out for its
 * `retryAfterMs`, during which the ack of any earlier attempt still counts.
 */
export async function sendUntilAcked(
  client: ChatClient,
  frame: { conversationId: string; clientMessageId: string; body: string },
  resendAfterMs: number,
  stats: SendStats,
): Promise<Frame> {
  const requestIds = new Set<string>();
  let acked: Frame | undefined;
  let wake: () => void = () => undefined;
  const stop = client.onReply((reply) => {
    if (reply.type === 'ack' && requestIds.has(String(reply.requestId))) {
      acked = reply;
      wake();
    }
  });
  /** Resolves after `ms`, or as soon as any attempt is acked. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  try {
    for (let attempt = 1; attempt <= 100; attempt++) {
      const requestId = `${frame.clientMessageId}#${attempt}`;
      requestIds.add(requestId);
      const reply = await client
        .request({ action: 'send', requestId, ...frame }, resendAfterMs)
        .catch(() => undefined);
      if (acked !== undefined) return acked;
      if (reply === undefined) {
        stats.resentUnanswered++;
        continue;
      }
      if (reply.code !== 'busy') throw new Error(`Send refused: ${JSON.stringify(reply)}`);
      stats.busyAnswers++;
      await pause(Number(reply.retryAfterMs ?? 1_000));
      if (acked !== undefined) return acked;
    }
    throw new Error(`${frame.clientMessageId} was never acked`);
  } finally {
    stop();
  }
}

/** The seqs of a conversation's messages that one frame carries: itself, or a `batch` frame's, in its order. */
export function messageSeqs(frame: Frame, conversationId: string): number[] {
  if (frame.type === 'batch' && Array.isArray(frame.frames))
    return frame.frames.flatMap((inner: Frame) => messageSeqs(inner, conversationId));
  return frame.type === 'message' && frame.conversationId === conversationId ? [Number(frame.seq)] : [];
}

/**
 * The seqs of a conversation a client received, pushed alone or inside `batch` frames, plus `own`: the
 * seqs of its own sends, which reach it as acks, not pushes.
 */
export function heldSeqs(
  client: ChatClient,
  conversationId: string,
  own: Iterable<number> = [],
): Set<number> {
  const held = new Set<number>(own);
  for (const frame of client.frames) for (const seq of messageSeqs(frame, conversationId)) held.add(seq);
  return held;
}

/** Every stored item of a conversation: seqs ascending, and how many are tombstones. */
export async function storedEntries(
  runtime: LocalRuntime,
  conversationId: string,
): Promise<{ seqs: number[]; tombstones: number }> {
  const items = await storedMessageItems(runtime, conversationId);
  return {
    seqs: items.map((item) => Number(item.seq)),
    tombstones: items.filter((item) => item.tombstone === true).length,
  };
}

async function connectAll(runtime: LocalRuntime, userIds: string[]): Promise<ChatClient[]> {
  return Promise.all(userIds.map(async (userId) => ChatClient.connect(await runtime.connectUrl(userId))));
}

/** A group of `owner` and `members`, who first let anyone add them: strangers would be invited instead. */
async function newConversation(runtime: LocalRuntime, owner: ChatClient, members: string[]): Promise<string> {
  await letAnyoneAdd(runtime, members);
  const reply = await owner.request({ action: 'createConversation', members });
  if (reply.type !== 'ack') throw new Error(`createConversation failed: ${JSON.stringify(reply)}`);
  return String((reply.conversation as Frame).conversationId);
}

/** Runs the burst and reads back what was stored and delivered. Closes its clients. */
export async function runBurst(runtime: LocalRuntime, options: BurstOptions): Promise<BurstResult> {
  const userIds = Array.from({ length: options.users }, (_, i) => `${options.tag}-u${i}`);
  const clients = await connectAll(runtime, userIds);
  try {
    const [owner] = clients;
    if (owner === undefined) throw new Error('No users');
    const conversationId = await newConversation(runtime, owner, userIds.slice(1));
    await Promise.all(clients.map((client) => client.request({ action: 'subscribe', conversationId })));
    const total = options.users * options.messagesPerUser;
    const stats: SendStats = { resentUnanswered: 0, busyAnswers: 0 };

    const own = clients.map(() => [] as number[]);
    const started = performance.now();
    const { calls, byCommand } = await countSendCalls(() =>
      Promise.all(
        clients.flatMap((client, u) =>
          Array.from({ length: options.messagesPerUser }, async (_, m) => {
            const ack = await sendUntilAcked(
              client,
              { conversationId, clientMessageId: `u${u}-m${m}`, body: `message ${m} from user ${u}` },
              options.resendAfterMs,
              stats,
            );
            own[u]?.push(Number(ack.seq));
          }),
        ),
      ),
    );
    const ackedInMs = performance.now() - started;
    const holdsAll = (client: ChatClient, u: number) =>
      heldSeqs(client, conversationId, own[u]).size >= total;
    await waitUntil(() => clients.every(holdsAll), Math.max(120_000, total * 200)).catch(() => undefined);
    const deliveredInMs = performance.now() - started;
    const stored = await storedEntries(runtime, conversationId);
    return {
      messages: total,
      ackedInMs,
      deliveredInMs,
      ...stats,
      repliesWithoutRequestId: clients
        .flatMap((client) => client.frames)
        .filter(
          (frame) => frame.type === undefined || (frame.type === 'error' && frame.requestId === undefined),
        ).length,
      storedSeqs: stored.seqs,
      tombstones: stored.tombstones,
      completeSubscribers: clients.filter(holdsAll).length,
      sendCallsPerMessage: calls / Math.max(1, stored.seqs.length - stored.tombstones),
      sendCallsByCommand: byCommand,
    };
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
}

/**
 * Messages are sent one after another: the uncontended baseline of the burst. They rotate over as many
 * senders as keep each within its send bucket (`LIMITS.sendBurst` messages each), so the baseline
 * measures the pipeline, never the per-user rate limit.
 */
export async function runSequential(
  runtime: LocalRuntime,
  options: { messages: number; tag: string },
): Promise<SequentialResult> {
  const senderCount = Math.ceil(options.messages / LIMITS.sendBurst);
  const userIds = Array.from({ length: senderCount }, (_, i) => `${options.tag}-solo${i}`);
  const senders = await connectAll(runtime, userIds);
  const [owner] = senders;
  if (owner === undefined) throw new Error('No sender');
  try {
    const conversationId = await newConversation(runtime, owner, [
      ...userIds.slice(1),
      `${options.tag}-listener`,
    ]);
    const stats: SendStats = { resentUnanswered: 0, busyAnswers: 0 };
    const started = performance.now();
    const { calls } = await countSendCalls(async () => {
      for (let m = 0; m < options.messages; m++) {
        await sendUntilAcked(
          senders[m % senderCount] ?? owner,
          { conversationId, clientMessageId: `solo-${m}`, body: `message ${m}` },
          30_000,
          stats,
        );
      }
    });
    return {
      messages: options.messages,
      elapsedMs: performance.now() - started,
      sendCallsPerMessage: calls / options.messages,
    };
  } finally {
    await Promise.all(senders.map((sender) => sender.close()));
  }
}
