/**
 * The serverless-chat client SDK: browsers and Node ≥ 20, no runtime dependency.
 *
 * It makes the server's guarantees true on screen: each message exactly once and in seq order per
 * conversation (dedupe, reorder, gap repair, resume with `afterSeq` on every reconnect), and every
 * message sent is resent with its clientMessageId until acked, across reconnects and reloads.
 *
 * ```ts
 * const chat = connect({ url: 'wss://…/prod', tokenProvider: getToken, WebSocket }); // `ws` on Node 20
 * chat.on('reconnecting', ({ attempt, delayMs }) => status(`reconnecting (${attempt}) in ${delayMs} ms`));
 * chat.on('outbox', ({ status, entry }) => showBubble(entry.clientMessageId, entry.body, status));
 * const { conversationId } = await chat.createConversation(['bob'], 'Lunch');
 * const room = chat.conversation(conversationId); // the last page, then live; { afterSeq } to resume
 * room.on('message', (m) => show(m.seq, m.senderId, m.body)); // once each, in seq order
 * room.on('state', ({ members, typing, online }) => header(members, typing, online)); // room.seenBy(seq) too
 * chat.send(conversationId, 'hello 👋'); // pending at once, then sent (or failed, if refused)
 * const { messages, hasMore } = await room.loadOlder(50); // scroll-back
 * room.on('update', (u) => (u.deleted ? markDeleted(u.seq) : showEdited(u.seq, u.body))); // newer versions
 * input.oninput = () => chat.typing(conversationId); // throttled; others see it in their room.state.typing
 * chat.on('activity', ({ conversationId, seq }) => bump(conversationId, seq)); // conversations not open
 * room.on('membership', ({ kind, userIds, by }) => note(kind, userIds, by)); // in seq order
 * ```
 */
import { ChatClient } from './client';
import type { ConnectOptions } from './options';

export { ChatClient } from './client';
export type { ConversationState } from './conversation-state';
export { conversationName, type NameableConversation } from './names';
export type { ClientEvents, ConnectOptions, FileData } from './options';
export {
  localStorageOutboxStore,
  MemoryOutboxStore,
  type OutboxEntry,
  type OutboxEvent,
  type OutboxStore,
  type StorageLike,
} from './outbox';
export type { OlderPage } from './pages';
export type { AttachedAck, OutboxChange, PendingSend, SentAck } from './pending-send';
export type { ConversationStream, StreamEvents, StreamStart } from './stream';
export * from './types';
export type { FileToSend } from './uploads';

/** Opens a chat connection; it reconnects by itself until `close()`. */
export function connect(options: ConnectOptions): ChatClient {
  return new ChatClient(options);
}
