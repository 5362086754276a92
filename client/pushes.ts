/** The frames the server sends, decoded: pushes become the SDK's events, answers go to their requests. */
import type { ClientEvents } from './options';
import type { ConversationStream } from './stream';
import type { ActivityEvent, MembershipEntry, MembershipEvent, MessageUpdate, StoredEntry } from './types';

/** Where a received frame goes. */
export interface FrameListener {
  /** The open stream of a conversation, if any. */
  stream(conversationId: string): ConversationStream | undefined;
  /** Every open stream: a presence push is about a user, and counts in each conversation they are in. */
  streams(): Iterable<ConversationStream>;
  emit<K extends 'membership' | 'read' | 'typing' | 'activity' | 'presence' | 'invitation'>(
    type: K,
    event: ClientEvents[K],
  ): void;
  /** The last presence heard of each user, so a repeated one is not reported again. */
  presenceOf: Map<string, boolean>;
  /** An `ack` or `error` frame. */
  answer(frame: Record<string, unknown>): void;
  /** API Gateway's own error, which names no request of ours. */
  anonymousError(): void;
  /** The server refused a frame because the connection's token expired; it closes the connection. */
  tokenExpired(): void;
}

/** Decodes one frame and hands it on; a frame that does not parse, or is malformed, is dropped. */
export function receiveFrame(data: unknown, to: FrameListener): void {
  let frame: unknown;
  try {
    frame = JSON.parse(String(data));
  } catch {
    return;
  }
  handleFrame(frame as Record<string, unknown>, to);
}

/** Hands on one decoded frame; a `batch` hands on each frame it holds, in order, as if each came alone. */
function handleFrame(frame: Record<string, unknown>, to: FrameListener): void {
  if (typeof frame !== 'object' || frame === null) return;
  if (frame.type === 'batch') {
    if (Array.isArray(frame.frames)) for (const inner of frame.frames) handleFrame(inner, to);
  } else if (frame.type === 'message') {
    if (typeof frame.seq === 'number' && typeof frame.conversationId === 'string')
      to.stream(frame.conversationId)?.accept([frame as unknown as StoredEntry]);
  } else if (frame.type === 'membership') {
    const { conversationId, seq, event, userIds, by, at } = frame;
    if (typeof conversationId !== 'string' || typeof seq !== 'number' || typeof event !== 'string') return;
    const entry = { conversationId, seq, tombstone: true, kind: event, userIds, by, at } as MembershipEntry;
    to.stream(conversationId)?.accept([entry]);
    if (Array.isArray(userIds) && typeof by === 'string' && typeof at === 'string')
      to.emit('membership', {
        conversationId,
        seq,
        kind: event as MembershipEvent['kind'],
        userIds: userIds.map(String),
        by,
        at,
      });
  } else if (frame.type === 'read') {
    const { conversationId, userId, seq } = frame;
    if (typeof conversationId !== 'string' || typeof userId !== 'string' || typeof seq !== 'number') return;
    to.stream(conversationId)?.read({ conversationId, userId, seq });
    to.emit('read', { conversationId, userId, seq });
  } else if (frame.type === 'edited' || frame.type === 'deleted') {
    const update = toUpdate(frame);
    if (update) to.stream(update.conversationId)?.change(update);
  } else if (frame.type === 'typing') {
    const { conversationId, userId } = frame;
    if (typeof conversationId !== 'string' || typeof userId !== 'string') return;
    to.stream(conversationId)?.typing({ conversationId, userId });
    to.emit('typing', { conversationId, userId });
  } else if (frame.type === 'activity') {
    const activity = toActivity(frame);
    if (activity) to.emit('activity', activity);
  } else if (frame.type === 'presence') {
    const { userId, online } = frame;
    if (typeof userId !== 'string' || typeof online !== 'boolean') return;
    for (const stream of to.streams()) stream.presence(userId, online);
    // The server may say the same twice (announced at connect and again at a subscribe, or by two tabs
    // at once): only a change is an event.
    if (to.presenceOf.get(userId) === online) return;
    to.presenceOf.set(userId, online);
    to.emit('presence', { userId, online });
  } else if (frame.type === 'invitation') {
    const { conversationId, invitedBy, invitedAt, title } = frame;
    if (typeof conversationId !== 'string' || typeof invitedBy !== 'string' || typeof invitedAt !== 'string')
      return;
    to.emit('invitation', {
      conversationId,
      invitedBy,
      invitedAt,
      ...(typeof title === 'string' ? { title } : {}),
    });
  } else if (frame.type === 'error' && frame.code === 'token_expired') {
    // Not the request's fault: the connection ended under it, and a fresh one resends what may be resent.
    to.tokenExpired();
  } else if (frame.type === 'ack' || frame.type === 'error') {
    to.answer(frame);
  } else if (frame.type === undefined && typeof frame.message === 'string') {
    // API Gateway's own error ("Internal server error"): its requestId is AWS's, not ours.
    to.anonymousError();
  }
}

/** An `activity` push as an {@link ActivityEvent}, or undefined when it is malformed. */
function toActivity(frame: Record<string, unknown>): ActivityEvent | undefined {
  const { conversationId, seq, senderId, sentAt, preview, truncated, attachment } = frame;
  if (
    typeof conversationId !== 'string' ||
    typeof seq !== 'number' ||
    typeof senderId !== 'string' ||
    typeof sentAt !== 'string' ||
    typeof preview !== 'string'
  )
    return;
  const contentType = (attachment as { contentType?: unknown } | undefined)?.contentType;
  return {
    conversationId,
    seq,
    senderId,
    sentAt,
    preview,
    ...(truncated === true ? { truncated } : {}),
    ...(typeof contentType === 'string' ? { attachment: { contentType } } : {}),
  };
}

/** An `edited` or `deleted` push as a {@link MessageUpdate}, or undefined when it is malformed. */
function toUpdate(frame: Record<string, unknown>): MessageUpdate | undefined {
  const { conversationId, seq, version, body, editedAt, deletedAt } = frame;
  if (typeof conversationId !== 'string' || typeof seq !== 'number' || typeof version !== 'number') return;
  if (frame.type === 'deleted')
    return {
      conversationId,
      seq,
      version,
      body: '',
      deleted: true,
      ...(typeof deletedAt === 'string' ? { deletedAt } : {}),
    };
  if (typeof body !== 'string') return;
  return {
    conversationId,
    seq,
    version,
    body,
    deleted: false,
    ...(typeof editedAt === 'string' ? { editedAt } : {}),
  };
}
