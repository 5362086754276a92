/** The server's pushes, decoded from raw frames into the SDK's events. */
import type { ActivityEvent, MessageUpdate } from './types';

/** An `activity` push as an {@link ActivityEvent}, or undefined when it is malformed. */
export function toActivity(frame: Record<string, unknown>): ActivityEvent | undefined {
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
export function toUpdate(frame: Record<string, unknown>): MessageUpdate | undefined {
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
