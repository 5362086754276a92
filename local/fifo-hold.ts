/**
 * The records of FIFO message groups that the local event source has taken off the queue: fauxqs hands
 * out one message per group per receive and hides the rest of the group until that one is deleted, so to
 * hand a function several records of one group, as Lambda's FIFO poller does, the event source deletes
 * each record as it gathers the next and keeps what it took here, in group order. A group runs in one
 * batch at a time; records that fail go back to the head of their group, hidden until their visibility
 * timeout ends, so the group stays blocked behind them and retries never reorder it.
 */
import type { Message } from '@aws-sdk/client-sqs';

/** A record the event source holds: the message as received, and how often it was handed to the function. */
export interface HeldRecord {
  message: Message;
  group: string;
  receives: number;
  /** Still in flight on the queue (not deleted): it keeps its group locked there while its batch runs. */
  inFlight: boolean;
}

interface Group {
  records: HeldRecord[];
  /** Epoch ms before which the group's head is hidden (a failed batch's visibility timeout). */
  visibleAt: number;
  busy: boolean;
}

export interface TakenBatch {
  /** The records to hand to the function, group by group, each group in order. */
  records: HeldRecord[];
  /** Records received more than `maxReceiveCount` times: for the dead-letter queue, not the function. */
  dead: HeldRecord[];
}

export class FifoHold {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly maxReceiveCount: () => number) {}

  /** Adds messages just received (so still in flight) behind what their groups already hold, in order. */
  add(messages: readonly Message[]): HeldRecord[] {
    return messages.map((message) => {
      const group = message.Attributes?.MessageGroupId ?? message.MessageId ?? '';
      const held = this.groups.get(group) ?? { records: [], visibleAt: 0, busy: false };
      this.groups.set(group, held);
      const receives = Number(message.Attributes?.ApproximateReceiveCount ?? '1');
      const record: HeldRecord = { message, group, receives, inFlight: true };
      held.records.push(record);
      return record;
    });
  }

  /** Whether some group may run now: it holds records, runs in no batch and is not hidden. */
  hasReady(now: number): boolean {
    return [...this.groups.values()].some((group) => this.ready(group, now));
  }

  /**
   * Takes up to `max` records of the groups that may run now, marking those groups busy. A record handed
   * out before counts one more receive, and one past `maxReceiveCount` goes to `dead` instead.
   */
  take(max: number, now: number): TakenBatch {
    const batch: TakenBatch = { records: [], dead: [] };
    for (const [name, group] of this.groups) {
      if (batch.records.length >= max) break;
      if (!this.ready(group, now)) continue;
      const before = batch.records.length;
      while (batch.records.length < max) {
        const record = group.records.shift();
        if (record === undefined) break;
        if (record.receives > this.maxReceiveCount()) batch.dead.push(record);
        else batch.records.push(record);
      }
      // A group whose records all went to the dead-letter queue runs in no batch, so nothing settles it.
      group.busy = batch.records.length > before;
      if (!group.busy && group.records.length === 0) this.groups.delete(name);
    }
    return batch;
  }

  /**
   * Ends a batch: its groups may run again, the failed records back at the head of their groups, in
   * order, each counting one more receive when handed out again. A group is hidden until `visibleAt` of
   * its head: the queue's visibility timeout, or what the function set for that record.
   */
  settle(
    records: readonly HeldRecord[],
    failed: (record: HeldRecord) => boolean,
    visibleAt: (head: HeldRecord) => number,
  ): void {
    const names = new Set(records.map((record) => record.group));
    for (const name of names) {
      const group = this.groups.get(name);
      if (group === undefined) continue;
      const retried = records.filter((record) => record.group === name && failed(record));
      const [head] = retried;
      if (head !== undefined) group.visibleAt = visibleAt(head);
      for (const record of retried) {
        record.receives++;
        record.inFlight = false;
        record.message.Attributes = {
          ...record.message.Attributes,
          ApproximateReceiveCount: String(record.receives),
        };
      }
      group.records.unshift(...retried);
      group.busy = false;
      if (group.records.length === 0) this.groups.delete(name);
    }
  }

  /** Every record held and not in a running batch, for a stopping event source to account for. */
  waiting(): HeldRecord[] {
    return [...this.groups.values()].flatMap((group) => group.records);
  }

  private ready(group: Group, now: number): boolean {
    return !group.busy && group.records.length > 0 && group.visibleAt <= now;
  }
}
