/**
 * An audience for the bench: many users, each on a few sockets, in one group or room. Shared by the bill's
 * scenarios (bench/scenarios.ts) and the subscribe measurement (bench/subscribe.ts), so both gather and
 * subscribe an audience the same way.
 */
import type { LocalRuntime } from '../local/runtime';
import { type ChatClient, type Frame, HandshakeRefusedError } from '../test/e2e/chat-client';
import { createConversation, letAnyoneAdd } from '../test/e2e/helpers';
import type { SendStats } from './burst';

/** What gathering an audience needs: the runtime, and how a user's socket connects. */
export interface AudienceContext {
  runtime: LocalRuntime;
  /** Connects `userId` (through a client the caller may meter). */
  connect(userId: string): Promise<ChatClient>;
}

/**
 * Sends `frame` until it is acked, as the SDK does: again when no answer came in time, and after each
 * retryable refusal's wait (`busy`), which `stats` counts when given. Only for frames that may be
 * repeated (subscribe, joinRoom).
 */
export async function requestUntilAcked(
  client: ChatClient,
  frame: Record<string, unknown>,
  stats?: SendStats,
): Promise<Frame> {
  for (let attempt = 1; attempt <= 20; attempt++) {
    const reply = await client.request(frame, 30_000).catch(() => undefined);
    if (reply === undefined) {
      if (stats !== undefined) stats.resentUnanswered++;
      continue;
    }
    if (reply.type === 'ack') return reply;
    if (reply.retryable !== true)
      throw new Error(`${String(frame.action)} refused: ${JSON.stringify(reply)}`);
    if (stats !== undefined && reply.code === 'busy') stats.busyAnswers++;
    await new Promise((resolve) => setTimeout(resolve, Number(reply.retryAfterMs ?? 1_000)));
  }
  throw new Error(`${String(frame.action)} was never acked`);
}

/** Runs `request` for every socket, 50 at a time. */
async function inWaves(
  sockets: ChatClient[],
  request: (socket: ChatClient) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < sockets.length; i += 50) await Promise.all(sockets.slice(i, i + 50).map(request));
}

/** Connects `userId`, again after a refused handshake (a `$connect` that ran out of time under load). */
async function connectUntilOpen(context: AudienceContext, userId: string): Promise<ChatClient> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await context.connect(userId);
    } catch (err: unknown) {
      if (!(err instanceof HandshakeRefusedError) || attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

/** A public room created by `owner`, joined by the first socket of every other member. */
async function openRoom(owner: ChatClient, members: ChatClient[][]): Promise<string> {
  const created = await owner.request({ action: 'createRoom', title: 'bench', access: 'public' }, 30_000);
  if (created.type !== 'ack') throw new Error(`createRoom failed: ${JSON.stringify(created)}`);
  const conversationId = String((created.room as Frame).conversationId);
  const joiners = members.slice(1).map((sockets) => sockets[0] as ChatClient);
  await inWaves(joiners, (socket) => requestUntilAcked(socket, { action: 'joinRoom', conversationId }));
  return conversationId;
}

/** A conversation of `members` users, each on `socketsPerMember` connections. */
export interface Audience {
  conversationId: string;
  /** Each member's sockets, the owner's first. */
  members: ChatClient[][];
  sockets: ChatClient[];
}

export interface AudienceOptions {
  /** Distinguishes this audience's users from others on the same runtime. */
  tag: string;
  kind: 'group' | 'room';
  members: number;
  /** @default 1 */
  socketsPerMember?: number;
}

/** Connects every member's sockets and makes them members of a new group or room; subscribes none. */
export async function gatherAudience(context: AudienceContext, options: AudienceOptions): Promise<Audience> {
  const { tag, kind, members, socketsPerMember = 1 } = options;
  const userIds = Array.from({ length: members }, (_, i) => `${tag}-u${i}`);
  // Strangers join a group only if they let anyone add them; anyone signed in joins a public room.
  if (kind === 'group') await letAnyoneAdd(context.runtime, userIds.slice(1));
  const clients: ChatClient[][] = [];
  // A few users at a time: hundreds of handshakes at once would time out on a small machine.
  const perBatch = Math.max(1, Math.floor(20 / socketsPerMember));
  for (let i = 0; i < userIds.length; i += perBatch) {
    clients.push(
      ...(await Promise.all(
        userIds
          .slice(i, i + perBatch)
          .map((id) =>
            Promise.all(Array.from({ length: socketsPerMember }, () => connectUntilOpen(context, id))),
          ),
      )),
    );
  }
  const owner = clients[0]?.[0];
  if (owner === undefined) throw new Error('An audience needs a member');
  const conversationId =
    kind === 'group' ? await createConversation(owner, userIds.slice(1)) : await openRoom(owner, clients);
  return { conversationId, members: clients, sockets: clients.flat() };
}

/** An audience whose every socket is subscribed, 50 at a time. */
export async function openAudience(context: AudienceContext, options: AudienceOptions): Promise<Audience> {
  const audience = await gatherAudience(context, options);
  const { conversationId } = audience;
  await inWaves(audience.sockets, (socket) =>
    requestUntilAcked(socket, { action: 'subscribe', conversationId }),
  );
  return audience;
}

/** Closes every socket of an audience. */
export const closeAll = (sockets: ChatClient[]) => Promise.all(sockets.map((socket) => socket.close()));
