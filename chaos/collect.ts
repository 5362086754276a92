/**
 * What the run reads at its end, straight from the services: every item of the messages table (a Query,
 * strongly consistent), history through the protocol (whose reads fill a dead writer's seq with a
 * tombstone once its lease has passed), and what is left in the dead-letter queues.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { redriveRuns } from '../local/redrive';
import type { LocalRuntime } from '../local/runtime';
import { storedMessageItems } from '../local/stored-messages';
import type { StoredItem } from './invariants';
import type { Ledger } from './ledger';
import type { ShownMessage } from './sdk-watcher';
import type { Frame, RawSocket } from './socket';

/** Every item of a conversation in the messages table, in seq order. */
export async function storedItems(runtime: LocalRuntime, conversationId: string): Promise<StoredItem[]> {
  return (await storedMessageItems(runtime, conversationId)).map((item) => ({
    seq: Number(item.seq),
    ...(typeof item.senderId === 'string' && { senderId: item.senderId }),
    ...(typeof item.body === 'string' && { body: item.body }),
    ...(typeof item.clientMessageId === 'string' && { clientMessageId: item.clientMessageId }),
    // A dead writer's tombstone; a deleted message and a membership change are tombstones of other kinds.
    ...(item.tombstone === true && item.kind === undefined && item.deleted !== true && { tombstone: true }),
  }));
}

/** A conversation's history, read back to seq 1 page by page: its messages (tombstones left out) and lastSeq. */
export async function readHistory(
  socket: RawSocket,
  ledger: Ledger,
  conversationId: string,
): Promise<{ lastSeq: number; messages: ShownMessage[] }> {
  const messages: ShownMessage[] = [];
  let lastSeq: number | undefined;
  let beforeSeq: number | undefined;
  for (;;) {
    const answer = await socket.request(
      { action: 'history', conversationId, limit: 100, ...(beforeSeq && { beforeSeq }) },
      ledger,
    ).reply;
    if (answer === undefined) throw new Error('The probe socket closed while reading history');
    if (answer.type !== 'ack') {
      await sleep(typeof answer.retryAfterMs === 'number' ? answer.retryAfterMs : 500);
      continue;
    }
    lastSeq ??= Number(answer.lastSeq);
    const page = Array.isArray(answer.messages) ? (answer.messages as Frame[]) : [];
    messages.unshift(
      ...page
        .filter((entry) => entry.tombstone !== true)
        .map((entry) => ({
          seq: Number(entry.seq),
          senderId: String(entry.senderId),
          body: String(entry.body),
        })),
    );
    const first = page[0];
    if (answer.hasMore !== true || first === undefined) return { lastSeq, messages };
    beforeSeq = Number(first.seq);
  }
}

/** Letters in both dead-letter queues, visible or not. */
export async function deadLetterCount(runtime: LocalRuntime): Promise<number> {
  let count = 0;
  for (const queue of [runtime.queues.deadLetter, runtime.queues.shardDeadLetter]) {
    const { Attributes } = await runtime.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queue.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    count +=
      Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
  }
  return count;
}

/** Redrives both dead-letter queues through the dlq function, as `npm run redrive` does; answers the letters moved. */
export async function redrive(runtime: LocalRuntime): Promise<number> {
  let moved = 0;
  for (const run of redriveRuns({ maxMessages: 10_000 })) {
    const summary = (await runtime.invoke('dlq', run)) as { moved?: unknown };
    moved += Number(summary.moved ?? 0);
  }
  return moved;
}

/** Polls `done` every 250 ms until it holds or `timeoutMs` passed; answers whether it held. */
export async function waitFor(done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await done()) return true;
    if (Date.now() >= until) return false;
    await sleep(250);
  }
}
