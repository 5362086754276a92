/**
 * What the run saw on the wire: every socket it opened (and how it ended) and every frame it sent (and how
 * and when it was answered). The invariants read it at the end (./invariants.ts).
 */
import { LIMITS } from '../shared/limits';

/** How a frame was answered: `ack`, `error:<code>`, API Gateway's `gateway-error` or its `gateway-timeout`. */
export type Answer = 'ack' | `error:${string}` | 'gateway-error' | 'gateway-timeout';

export interface FrameRecord {
  socket: number;
  action: string;
  requestId: string;
  /** The clientMessageId of a send, to tell resends apart. */
  clientMessageId?: string;
  sentAt: number;
  answeredAt?: number;
  answer?: Answer;
}

export interface SocketRecord {
  id: number;
  userId: string;
  openedAt: number;
  closedAt?: number;
}

/**
 * How long a frame may take to be answered, as its client sees it: its function's timeout (every route's
 * is 10 s, LIMITS.sendTimeoutSeconds for send; the route kit answers by then) plus 1 s for the way there and
 * back and the client's own delays on a loaded machine. A frame past it waited for something the budget
 * does not allow: the integration timeout, or no answer at all.
 */
export const FRAME_BUDGET_MS = LIMITS.sendTimeoutSeconds * 1000 + 1_000;

export class Ledger {
  readonly sockets: SocketRecord[] = [];
  readonly frames: FrameRecord[] = [];

  openSocket(userId: string): SocketRecord {
    const record: SocketRecord = { id: this.sockets.length + 1, userId, openedAt: Date.now() };
    this.sockets.push(record);
    return record;
  }

  sent(record: Omit<FrameRecord, 'sentAt'>): FrameRecord {
    const frame: FrameRecord = { ...record, sentAt: Date.now() };
    this.frames.push(frame);
    return frame;
  }

  /** Counts of the frames by action, e.g. `send 812, subscribe 40`. */
  countByAction(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const frame of this.frames) counts[frame.action] = (counts[frame.action] ?? 0) + 1;
    return counts;
  }
}
