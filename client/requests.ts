/** The request pipeline: each request until it is answered, and what may be resent or outlive its connection. */
import type { Action, ChatRequestError } from './types';

/** A request as long as it is not finished: possibly several attempts, each with its own requestId. */
export interface Pending {
  frame: Record<string, unknown>;
  /** Survives a lost connection (sent again on the next); otherwise it fails with `no_answer` once sent. */
  durable: boolean;
  /** Safe to send twice, so an unanswered attempt is resent; otherwise it fails with `no_answer`. */
  resend: boolean;
  attempts: number;
  /** The requestId of the attempt awaiting its answer on the current connection. */
  current: string | undefined;
  /** Frames received on the connection when the current attempt went out. */
  receivedBefore: number;
  /** Cancels the answer deadline, or the wait before the next attempt. */
  cancelTimer: (() => void) | undefined;
  ids: string[];
  resolve(ack: unknown): void;
  reject(error: ChatRequestError): void;
}

/** Per action: may it outlive its connection (durable), may it be sent twice (resend). */
export const POLICY: Record<Action, { durable: boolean; resend: boolean }> = {
  send: { durable: true, resend: true }, // the clientMessageId makes a resend the same message (G3)
  history: { durable: true, resend: true },
  addMembers: { durable: true, resend: true }, // existing members are skipped
  subscribe: { durable: false, resend: true }, // a subscription belongs to one connection
  unsubscribe: { durable: false, resend: true },
  createConversation: { durable: false, resend: false }, // a second one would make a second conversation
  listConversations: { durable: true, resend: true },
  read: { durable: true, resend: true }, // the cursor only moves forward
  edit: { durable: true, resend: true }, // the same body again is acked `duplicate`
  delete: { durable: true, resend: true }, // deleting again is acked `duplicate`
  typing: { durable: false, resend: false }, // ephemeral: a late one is worse than none
  presence: { durable: true, resend: true },
  uploadUrl: { durable: true, resend: true }, // an unused URL costs nothing
  downloadUrl: { durable: true, resend: true },
  removeMember: { durable: true, resend: true }, // a second removal acks `removed: false`
  leave: { durable: true, resend: true },
};

export const utf8Length = (text: string): number => new TextEncoder().encode(text).length;
