/**
 * `npm run bench`: measures the local runtime (real handlers, DynamoDB Local, fauxqs) on this machine
 * and prints a cost model per million messages. Local numbers show the code path's overhead and its
 * behaviour under contention; they are not AWS latencies.
 */

import { startLocalRuntime } from '../local/runtime';
import { LIMITS } from '../shared/limits';
import { ChatClient } from '../test/e2e/chat-client';
import { createConversation, letAnyoneAdd } from '../test/e2e/helpers';
import { runBurst, runSequential } from './burst';

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const ms = (value: number) => `${value.toFixed(1)} ms`;

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('Timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const timeouts: string[] = [];
  const runtime = await startLocalRuntime({
    logLevel: 'ERROR',
    onLog: (line) => {
      if (line.includes('timed out')) timeouts.push(line);
    },
  });
  const readyMs = performance.now() - started;
  const connect = async (user: string) => ChatClient.connect(await runtime.connectUrl(user));
  const rows: [string, string][] = [['local runtime ready (npm start)', ms(readyMs)]];
  const clients: ChatClient[] = [];
  try {
    // 1. Ack and delivery latency, one subscriber, sequential sends. They rotate over as many senders as
    // keep each within its send bucket, so the per-user rate limit never answers instead.
    const sends = 200;
    const senderIds = Array.from({ length: Math.ceil(sends / LIMITS.sendBurst) }, (_, i) => `sender${i}`);
    const senders = await Promise.all(senderIds.map(connect));
    const [alice] = senders;
    if (alice === undefined) throw new Error('No sender');
    const bob = await connect('bob');
    clients.push(...senders, bob);
    // Strangers to alice: they let anyone add them, so her group makes them members, not invitees.
    await letAnyoneAdd(runtime, [...senderIds.slice(1), 'bob']);
    const conversationId = await createConversation(alice, [...senderIds.slice(1), 'bob']);
    await bob.request({ action: 'subscribe', conversationId });
    const acks: number[] = [];
    const deliveries: number[] = [];
    for (let n = 1; n <= sends; n++) {
      const t0 = performance.now();
      await (senders[n % senders.length] ?? alice).request({
        action: 'send',
        conversationId,
        clientMessageId: `lat-${n}`,
        body: `message ${n}`,
      });
      acks.push(performance.now() - t0);
      await waitFor(() => bob.seqs(conversationId).length >= n, 10_000);
      deliveries.push(performance.now() - t0);
    }
    rows.push([
      `send → ack, p50 / p95 (${sends} sequential)`,
      `${ms(percentile(acks, 50))} / ${ms(percentile(acks, 95))}`,
    ]);
    rows.push([
      'send → pushed to subscriber, p50 / p95',
      `${ms(percentile(deliveries, 50))} / ${ms(percentile(deliveries, 95))}`,
    ]);

    // 2. A hot conversation (G9): 1,000 sends one after another, then 100 users × 10 at once with
    // resends of unanswered sends after 5 s, on the same runtime.
    const solo = await runSequential(runtime, { messages: 1_000, tag: 'bench-solo' });
    const soloRate = solo.messages / (solo.elapsedMs / 1000);
    rows.push([
      `1,000 sends one after another (${Math.ceil(1_000 / LIMITS.sendBurst)} senders in turn)`,
      `${(solo.elapsedMs / 1000).toFixed(1)} s (${soloRate.toFixed(0)} msg/s), ${solo.sendCallsPerMessage.toFixed(2)} AWS calls per message`,
    ]);
    const timeoutsBefore = timeouts.length;
    const burst = await runBurst(runtime, {
      users: 100,
      messagesPerUser: 10,
      resendAfterMs: 5_000,
      tag: 'bench-burst',
    });
    const burstRate = burst.messages / (burst.ackedInMs / 1000);
    const exact =
      burst.storedSeqs.length === burst.messages && burst.storedSeqs.every((seq, i) => seq === i + 1);
    rows.push([
      '100 users × 10 sends at once into one conversation',
      `all acked in ${(burst.ackedInMs / 1000).toFixed(1)} s (${burstRate.toFixed(0)} msg/s = ${(burstRate / soloRate).toFixed(1)}× sequential)`,
    ]);
    rows.push([
      '… stored seqs',
      `${exact ? `exactly 1..${burst.messages}` : `NOT 1..${burst.messages} (${burst.storedSeqs.length} items)`}, ${burst.tombstones} tombstones`,
    ]);
    rows.push([
      '… AWS calls of the send function per stored message',
      `${burst.sendCallsPerMessage.toFixed(2)} (${(burst.sendCallsPerMessage / solo.sendCallsPerMessage).toFixed(2)}× sequential) ${JSON.stringify(burst.sendCallsByCommand)}`,
    ]);
    rows.push([
      '… subscribers holding all messages',
      `${burst.completeSubscribers} of 100, after ${(burst.deliveredInMs / 1000).toFixed(1)} s (${(burst.messages * 100).toLocaleString('en-US')} pushes)`,
    ]);
    rows.push([
      '… function timeouts / replies without requestId',
      `${timeouts.length - timeoutsBefore} / ${burst.repliesWithoutRequestId}`,
    ]);
    rows.push([
      '… sends resent (no answer in 5 s) / `busy` answers',
      `${burst.resentUnanswered} / ${burst.busyAnswers}`,
    ]);

    // 3. Fan-out width: one message to 100 subscribed connections, as many per listener as the per-user
    // connection cap allows.
    const listenerIds = Array.from(
      { length: Math.ceil(100 / LIMITS.maxConnectionsPerUser) },
      (_, i) => `listener${i}`,
    );
    await letAnyoneAdd(runtime, listenerIds);
    const added = await alice.request({ action: 'addMembers', conversationId, members: listenerIds });
    if (added.type !== 'ack') throw new Error(`addMembers failed: ${JSON.stringify(added)}`);
    const listeners = await Promise.all(
      listenerIds.flatMap((id) => Array.from({ length: LIMITS.maxConnectionsPerUser }, () => connect(id))),
    );
    clients.push(...listeners);
    await Promise.all(listeners.map((client) => client.request({ action: 'subscribe', conversationId })));
    const t2 = performance.now();
    const wide = await alice.request({
      action: 'send',
      conversationId,
      clientMessageId: 'wide',
      body: 'to everyone',
    });
    // The listeners' addMembers took a seq of its own, so the message's seq comes from its ack.
    const wideSeq = wide.type === 'ack' ? Number(wide.seq) : Number.NaN;
    await waitFor(() => listeners.every((client) => client.seqs(conversationId).includes(wideSeq)), 30_000);
    rows.push(['one message to 100 connections: send → last push', ms(performance.now() - t2)]);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await runtime.stop();
  }

  const width = Math.max(...rows.map(([name]) => name.length));
  console.log('\nMeasured on this machine (local runtime, real handlers):\n');
  for (const [name, value] of rows) console.log(`  ${name.padEnd(width)}  ${value}`);
  printCostModel();
}

/**
 * What one million messages cost on AWS, from the operations the code performs per message. Prices are
 * us-east-1 list prices (on-demand, no free tier); change them here if yours differ.
 */
function printCostModel(): void {
  const price = {
    apiGatewayMessage: 1.0 / 1e6, // per message (32 KB units), first billion
    connectionMinute: 0.25 / 1e6,
    lambdaRequest: 0.2 / 1e6,
    lambdaGbSecond: 0.0000133334, // arm64
    dynamoWrite: 0.625 / 1e6, // per write request unit
    dynamoRead: 0.125 / 1e6, // per read request unit
    sqsFifoRequest: 0.5 / 1e6,
  };
  const subscribers = [2, 10, 100];
  console.log(
    '\nCost model per 1,000,000 messages (us-east-1 list prices; arithmetic, not a measurement):\n',
  );
  console.log('  subscribers  API Gateway  Lambda   DynamoDB  SQS     total');
  for (const n of subscribers) {
    // API Gateway: 1 inbound frame + 1 ack frame + n pushes.
    const apiGateway = (2 + n) * price.apiGatewayMessage;
    // Lambda: send (≈100 ms at 256 MB); fan-out per message ≈ 50 ms + 5 ms per push at 512 MB, one request per batch of 10.
    const lambda =
      price.lambdaRequest * (1 + 0.1) + price.lambdaGbSecond * (0.25 * 0.1 + 0.5 * (0.05 + 0.005 * n) * 1);
    // DynamoDB: send = the member UpdateItem that takes a send token (1 WRU; byMember does not copy
    // the bucket, so the index is not written), the claim PutItem (1 WRU), the counter UpdateItem
    // (1 WRU) and a 2-item transaction (2 WRU per item); fan-out = one strongly consistent Query of the
    // subscribers and one of the members (offline members and activity; about 1 RRU), and in groups of
    // up to LIMITS.maxActivityEventMembers one keys-only byUser Query per member (0.5 RRU each) for the
    // activity frames; members are taken to be the subscribers here.
    const activityLookups = n <= LIMITS.maxActivityEventMembers ? n * 0.5 : 0;
    const dynamo =
      price.dynamoRead * (1 + Math.max(1, Math.ceil((n * 80) / 4096)) + activityLookups) +
      price.dynamoWrite * 7;
    // SQS FIFO: SendMessage + ReceiveMessage share + DeleteMessage share (batches of up to 10).
    const sqs = price.sqsFifoRequest * (1 + 0.2);
    const total = apiGateway + lambda + dynamo + sqs;
    const $ = (value: number) => `$${(value * 1e6).toFixed(2)}`.padStart(9);
    console.log(
      `  ${String(n).padStart(11)}  ${$(apiGateway)}  ${$(lambda)}  ${$(dynamo)}  ${$(sqs)}  ${$(total)}`,
    );
  }
  console.log(
    '\n  Plus $0.25 per million connection-minutes. The floor is (1 + n) WebSocket messages per message;',
  );
  console.log('  the ack frame adds one more, which clients need for G1.');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
