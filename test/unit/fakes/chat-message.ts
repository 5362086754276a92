/** A ChatMessage as the fan-out queue carries it, for the fan-out's unit tests. */
import type { ChatMessage } from '../../../shared/protocol';

/** Message `seq` of `conversationId`, from alice, sent at a fixed time. */
export const chatMessage = (conversationId: string, seq: number): ChatMessage => ({
  conversationId,
  seq,
  senderId: 'alice',
  body: `hello ${seq}`,
  sentAt: '2025-01-01T00:00:00.000Z',
});
