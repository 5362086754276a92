/** What `send()` answers: the ack to come, with the message's clientMessageId known at once. */
import type { Attachment, SendAck } from './types';

/** The ack of a sent message; `attachment` is set when it carried a file (the confirmed upload). */
export type SentAck = SendAck & { attachment?: Attachment };

/**
 * A message in the outbox: a promise of its ack (`await chat.send(…)`), with its `clientMessageId`
 * known at once (to edit or delete it before it is sent, or to match the `outbox` events). It rejects
 * only on a permanent refusal (the message then stays `failed` in the outbox), with `closed` when the
 * client closes first (the message stays pending in the store), or with `cancelled` when it was deleted
 * before it was sent. Nobody has to await it: a rejection nobody handles does not crash Node.
 */
export interface PendingSend<T extends SendAck = SentAck> extends Promise<T> {
  readonly clientMessageId: string;
  /** The same promise, for code written against the earlier `{ clientMessageId, acked }` answer. */
  readonly acked: Promise<T>;
}

/** Makes `acked` a {@link PendingSend} of `clientMessageId`. */
export function pendingSend<T extends SendAck>(clientMessageId: string, acked: Promise<T>): PendingSend<T> {
  // An app that follows the outbox events may never look at this promise; its rejection must not crash Node.
  acked.catch(() => {});
  return Object.assign(acked, { clientMessageId, acked });
}

/**
 * What `attach` answers: the ack, with what the earlier `attach` answered (the confirmed `attachment`,
 * `clientMessageId` and `acked`), so code written against it keeps working.
 */
export type AttachedAck = SentAck & {
  attachment: Attachment;
  clientMessageId: string;
  acked: Promise<SentAck>;
};

/** The {@link PendingSend} of a message with a file, answered as {@link AttachedAck}. */
export function attached(sent: PendingSend): PendingSend<AttachedAck> {
  const { clientMessageId } = sent;
  // A send with a file resolves only once its upload is confirmed, so its ack has the attachment.
  const ack = sent.then((a) => ({
    ...a,
    attachment: a.attachment as Attachment,
    clientMessageId,
    acked: sent,
  }));
  return pendingSend(clientMessageId, ack);
}

/**
 * What `edit` and `delete` by clientMessageId answer when the message was not on the server yet: the
 * change was made in the outbox (the body replaced, or the message removed), so no version exists.
 */
export interface OutboxChange {
  conversationId: string;
  clientMessageId: string;
  inOutbox: true;
}
