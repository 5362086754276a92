/**
 * The FIFO event source's stand-in for SQS's ChangeMessageVisibility: the records a FIFO poller hands to a
 * function are deleted from the emulator and held by the poller (./fifo-hold.ts), so when the function
 * shortens a failed record's visibility (lambdas/fanout/retry.ts), the emulator cannot; the poller answers
 * instead, through the local-only hook in front of every guarded SDK client (shared/invocation.ts).
 */
import { interceptAwsCalls } from '../shared/invocation';
import type { HeldRecord } from './fifo-hold';

/** A visibility change as the function sends it, one entry per receipt handle. */
interface VisibilityEntry {
  Id?: string;
  ReceiptHandle?: string;
  VisibilityTimeout?: number;
}

/**
 * Answers the functions' ChangeMessageVisibility(Batch) on `queueUrl` for the receipt handles a FIFO
 * poller handed out: those records are deleted from the emulator and held by the poller, so the emulator
 * cannot change them; the poller hides the record's group until the time asked for instead of the
 * queue's visibility timeout. Any other call, and any other queue's, passes on. Several runtimes may
 * share a process: each answers only its own queue and handles, and `stop` removes the stand-in.
 */
export function answerVisibilityChanges(queueUrl: string) {
  const running = new Map<string, HeldRecord>();
  const requested = new Map<HeldRecord, number>();
  const change = (entries: VisibilityEntry[]) => {
    const now = Date.now();
    const successful: { Id: string }[] = [];
    const failed: { Id: string; Code: string; SenderFault: boolean; Message: string }[] = [];
    for (const { Id = '', ReceiptHandle = '', VisibilityTimeout = 0 } of entries) {
      const record = running.get(ReceiptHandle);
      if (record === undefined) {
        failed.push({ Id, Code: 'ReceiptHandleIsInvalid', SenderFault: true, Message: 'Not in flight' });
        continue;
      }
      requested.set(record, now + VisibilityTimeout * 1000);
      successful.push({ Id });
    }
    return { successful, failed };
  };
  const stop = interceptAwsCalls(async (call, proceed) => {
    const input = call.input as { QueueUrl?: string; Entries?: VisibilityEntry[] } & VisibilityEntry;
    if (input.QueueUrl !== queueUrl) return proceed();
    if (call.command === 'ChangeMessageVisibilityBatchCommand') {
      const { successful, failed } = change(input.Entries ?? []);
      return { Successful: successful, Failed: failed, $metadata: {} };
    }
    if (call.command === 'ChangeMessageVisibilityCommand' && running.has(input.ReceiptHandle ?? '')) {
      change([input]);
      return { $metadata: {} };
    }
    return proceed();
  });
  return {
    /** Records now in a batch: the function may change their visibility. */
    handOut(records: readonly HeldRecord[]): void {
      for (const record of records) running.set(record.message.ReceiptHandle ?? '', record);
    },
    /** When the function asked `record` to be visible again, if it did. */
    visibleAt: (record: HeldRecord): number | undefined => requested.get(record),
    /** The batch ended: its records' handles are no longer the function's. */
    settle(records: readonly HeldRecord[]): void {
      for (const record of records) {
        running.delete(record.message.ReceiptHandle ?? '');
        requested.delete(record);
      }
    },
    stop,
  };
}
