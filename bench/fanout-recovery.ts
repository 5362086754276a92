/**
 * `npx tsx bench/fanout-recovery.ts [--freeze-seconds 30]`: how long a conversation stays undelivered
 * after a DynamoDB outage longer than the fan-out's timeout (issue 18 point 2), on the local runtime with
 * the default wiring (30 s fan-out timeout, 180 s visibility timeout). Two users send steadily into a
 * conversation each, resending what is not acked, with a raw subscriber each; a third conversation's
 * records are on the fan-out queue when DynamoDB Local freezes (SIGSTOP, always resumed), so the fan-out
 * surely meets the freeze. After the thaw it prints, per conversation, when its subscriber held every
 * message acked before the thaw, and when the first message sent after the thaw reached it.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLocalRuntime } from '../local/runtime';
import type { ChatMessage } from '../shared/protocol';
import { enqueue } from '../shared/store/fanout-queue';
import { ChatClient } from '../test/e2e/chat-client';
import { createConversation, letAnyoneAdd } from '../test/e2e/helpers';
import { javaOnPort } from '../test/support/java-on-port';

const SEND_INTERVAL_MS = 250;
/** How long after the thaw the senders keep going, and the subscribers are watched. */
const AFTER_THAW_MS = 60_000;

function freezeSeconds(args: string[]): number {
  const at = args.indexOf('--freeze-seconds');
  const value = at === -1 ? 30 : Number(args[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error('--freeze-seconds takes a positive number');
  return value;
}

/** Sends one message every SEND_INTERVAL_MS until `stop`, resending each until acked; records the acks. */
async function sendSteadily(
  client: ChatClient,
  conversationId: string,
  acked: Map<number, number>,
  stop: () => boolean,
): Promise<void> {
  while (!stop()) {
    const clientMessageId = randomUUID();
    for (;;) {
      const reply = await client
        .request({ action: 'send', conversationId, clientMessageId, body: 'steady' }, 15_000)
        .catch(() => undefined);
      if (reply?.type === 'ack') {
        acked.set(Number(reply.seq), Date.now());
        break;
      }
      if (stop()) return;
      await sleep(500);
    }
    await sleep(SEND_INTERVAL_MS);
  }
}

async function main(): Promise<void> {
  const freezeMs = freezeSeconds(process.argv.slice(2)) * 1000;
  const runtime = await startLocalRuntime({ logLevel: 'ERROR' });
  const pids = javaOnPort(Number(new URL(runtime.endpoints.dynamodb).port));
  if (pids.length === 0) throw new Error('DynamoDB Local of this runtime not found');
  const thaw = () => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Already ended with the runtime: nothing left to resume.
      }
    }
  };
  process.on('exit', thaw);
  const clients: ChatClient[] = [];
  try {
    const users = ['s1', 'l1', 's2', 'l2', 's3', 'l3'];
    await letAnyoneAdd(runtime, users);
    const connect = async (userId: string) => {
      const client = await ChatClient.connect(await runtime.connectUrl(userId));
      clients.push(client);
      return client;
    };
    const conversations = await Promise.all(
      [1, 2, 3].map(async (n) => {
        const sender = await connect(`s${n}`);
        const listener = await connect(`l${n}`);
        const conversationId = await createConversation(sender, [`l${n}`]);
        await listener.request({ action: 'subscribe', conversationId });
        return { name: `c${n}`, sender, listener, conversationId, acked: new Map<number, number>() };
      }),
    );
    const [steady1, steady2, injected] = conversations as [
      (typeof conversations)[number],
      (typeof conversations)[number],
      (typeof conversations)[number],
    ];
    let stopped = false;
    const senders = [steady1, steady2].map((c) =>
      sendSteadily(c.sender, c.conversationId, c.acked, () => stopped),
    );
    await sleep(5_000);

    console.log(`Freezing DynamoDB Local (pid ${pids.join(', ')}) for ${freezeMs / 1000} s`);
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    let thawedAt = 0;
    try {
      // Records whose fan-out starts inside the freeze, as if stored just before it.
      const sentAt = new Date().toISOString();
      for (const seq of [1, 2, 3]) {
        const record: ChatMessage = {
          conversationId: injected.conversationId,
          seq,
          senderId: 's3',
          body: `stored before the freeze ${seq}`,
          sentAt,
        };
        await enqueue(runtime.clients.sqs, runtime.queues.fanout.url, record);
        injected.acked.set(seq, Date.now());
      }
      await sleep(freezeMs);
    } finally {
      thaw();
      thawedAt = Date.now();
    }
    console.log('Thawed');
    const report = await Promise.all(
      conversations.map(async (c) => {
        const due = [...c.acked.keys()].filter((seq) => (c.acked.get(seq) ?? 0) <= thawedAt);
        let caughtUp: number | undefined;
        let firstAfter: number | undefined;
        const deadline = thawedAt + AFTER_THAW_MS;
        while (
          Date.now() < deadline &&
          (caughtUp === undefined || (firstAfter === undefined && c !== injected))
        ) {
          const held = new Set(c.listener.seqs(c.conversationId));
          if (caughtUp === undefined && due.every((seq) => held.has(seq))) caughtUp = Date.now() - thawedAt;
          const after = [...c.acked.entries()].filter(([, at]) => at > thawedAt).map(([seq]) => seq);
          if (firstAfter === undefined && after.some((seq) => held.has(seq)))
            firstAfter = Date.now() - thawedAt;
          await sleep(50);
        }
        const fmt = (value: number | undefined) =>
          value === undefined ? `not within ${AFTER_THAW_MS / 1000} s` : `${(value / 1000).toFixed(1)} s`;
        return `${c.name}: ${due.length} acked before the thaw all delivered ${fmt(caughtUp)} after it${
          c === injected
            ? ' (records on the queue at the freeze)'
            : `; first message sent after the thaw delivered ${fmt(firstAfter)} after it`
        }`;
      }),
    );
    stopped = true;
    await Promise.all(senders);
    for (const line of report) console.log(line);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    thaw();
    await runtime.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
