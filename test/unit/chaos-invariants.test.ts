import { describe, expect, it } from 'vitest';
import { type ChaosObservation, checkChaos } from '../../chaos/invariants';

const T = 1_000_000;

/** A clean run in one conversation: three acked messages, one dead writer's tombstone, everyone up to date. */
function cleanRun() {
  const history = [
    { seq: 1, senderId: 'user01', body: 'hello 👋' },
    { seq: 3, senderId: 'user02', body: 'こんにちは' },
    { seq: 4, senderId: 'user01', body: 'مرحبا' },
  ];
  const o: ChaosObservation = {
    conversations: [
      {
        conversationId: 'c1',
        lastSeq: 4,
        items: [
          { seq: 1, senderId: 'user01', body: 'hello 👋', clientMessageId: 'user01.1' },
          { seq: 2, tombstone: true },
          { seq: 3, senderId: 'user02', body: 'こんにちは', clientMessageId: 'user02.1' },
          { seq: 4, senderId: 'user01', body: 'مرحبا', clientMessageId: 'user01.2' },
        ],
        history,
      },
    ],
    sends: [
      {
        conversationId: 'c1',
        clientMessageId: 'user01.1',
        senderId: 'user01',
        body: 'hello 👋',
        ackSeqs: [1],
      },
      {
        conversationId: 'c1',
        clientMessageId: 'user02.1',
        senderId: 'user02',
        body: 'こんにちは',
        ackSeqs: [3, 3],
      },
      { conversationId: 'c1', clientMessageId: 'user01.2', senderId: 'user01', body: 'مرحبا', ackSeqs: [4] },
    ],
    raw: [{ userId: 'listener1', conversationId: 'c1', held: [...history, { seq: 2, tombstone: true }] }],
    sdk: [{ userId: 'sdk-listener', conversationId: 'c1', shown: [...history] }],
    frames: [
      { socket: 1, action: 'send', requestId: 'r1', sentAt: T, answeredAt: T + 200, answer: 'ack' },
      {
        socket: 1,
        action: 'send',
        requestId: 'r2',
        sentAt: T + 1_000,
        answeredAt: T + 9_000,
        answer: 'error:busy',
      },
      // Its socket died before the answer was due: excepted.
      { socket: 2, action: 'send', requestId: 'r3', sentAt: T + 2_000 },
    ],
    sockets: [
      { id: 1, userId: 'user01', openedAt: T },
      { id: 2, userId: 'user02', openedAt: T, closedAt: T + 2_001 },
    ],
    fired: [],
    functionOf: (action) => (action === 'send' ? 'send' : 'conversations'),
    budgetMs: 10_000,
    checkedAt: T + 60_000,
    deadLetters: 0,
  };
  const [conversation] = o.conversations;
  const [raw] = o.raw;
  const [sdk] = o.sdk;
  const [firstSend, secondSend, thirdSend] = o.sends;
  const [acked, busy] = o.frames;
  if (!conversation || !raw || !sdk || !firstSend || !secondSend || !thirdSend || !acked || !busy) {
    throw new Error('The clean run lost a part');
  }
  return { o, conversation, raw, sdk, firstSend, secondSend, thirdSend, acked, busy };
}

const invariants = (o: ChaosObservation): string[] => checkChaos(o).map((v) => v.invariant);

describe('the chaos run’s invariants', () => {
  it('find nothing wrong in a clean run, a dead writer’s unacked tombstone included', () => {
    expect(checkChaos(cleanRun().o)).toEqual([]);
  });

  it('fail when a raw subscriber’s transcript misses a message of history', () => {
    // Prepare
    const { o, raw } = cleanRun();
    raw.held = raw.held.filter((entry) => entry.seq !== 3);

    // Act
    const violations = checkChaos(o);

    // Assess
    expect(violations.map((v) => v.invariant)).toEqual(['raw transcript = history']);
    expect(violations[0]?.detail).toContain('listener1 in c1: 1 of 3 messages missing or different');
  });

  it('fail when a raw subscriber holds a body other than the stored one', () => {
    const { o, raw } = cleanRun();
    raw.held[0] = { seq: 1, senderId: 'user01', body: 'hello' };
    expect(invariants(o)).toEqual(['raw transcript = history']);
  });

  it('fail when the SDK showed a message twice, or out of order', () => {
    const twice = cleanRun();
    twice.sdk.shown.splice(1, 0, { seq: 1, senderId: 'user01', body: 'hello 👋' });
    const swapped = cleanRun();
    swapped.sdk.shown.reverse();
    expect(invariants(twice.o)).toEqual(['SDK transcript = history']);
    expect(invariants(swapped.o)).toEqual(['SDK transcript = history']);
  });

  it('fail when an acked message is stored twice, at another seq, or not at all', () => {
    // Prepare
    const twice = cleanRun();
    twice.conversation.items.push({
      seq: 5,
      senderId: 'user01',
      body: 'hello 👋',
      clientMessageId: 'user01.1',
    });
    twice.conversation.lastSeq = 5;
    const elsewhere = cleanRun();
    elsewhere.firstSend.ackSeqs = [3];
    const lost = cleanRun();
    lost.conversation.items[0] = { seq: 1, tombstone: true };
    lost.conversation.history.shift();
    lost.raw.held.shift();
    lost.sdk.shown.shift();

    // Act / Assess
    expect(invariants(twice.o)).toContain('stored once');
    expect(invariants(elsewhere.o)).toContain('stored as acked');
    expect(invariants(lost.o)).toEqual(['acked is stored', 'tombstones unacked']);
  });

  it('fail when two acks of one clientMessageId name different seqs', () => {
    const { o, secondSend } = cleanRun();
    secondSend.ackSeqs = [3, 5];
    expect(invariants(o)).toEqual(['acks agree']);
  });

  it('fail when a seq between 1 and lastSeq holds no item', () => {
    const { o, conversation } = cleanRun();
    conversation.items.splice(1, 1);
    expect(checkChaos(o)).toEqual([{ invariant: 'seqs dense', detail: 'c1 has no item at seqs 2' }]);
  });

  it('fail when a frame on a live socket was never answered, or answered past its budget', () => {
    const unanswered = cleanRun().o;
    unanswered.frames.push({ socket: 1, action: 'subscribe', requestId: 'r4', sentAt: T + 3_000 });
    const late = cleanRun();
    late.busy.answeredAt = T + 1_000 + 10_001;
    expect(invariants(unanswered)).toEqual(['frames answered']);
    expect(invariants(late.o)).toEqual(['frames answered in time']);
  });

  it('count a gateway error as an answer only where a crash was injected in that function', () => {
    // Prepare
    const crash = { at: T + 100, label: 'crash', effect: 'crash-after' } as const;
    const crashed = cleanRun();
    crashed.acked.answer = 'gateway-error';
    crashed.o.fired = [{ ...crash, functionName: 'send', command: 'UpdateItemCommand' }];
    const elsewhere = cleanRun();
    elsewhere.acked.answer = 'gateway-error';
    elsewhere.o.fired = [{ ...crash, functionName: 'fanout', command: 'PostToConnectionCommand' }];

    // Act / Assess
    expect(checkChaos(crashed.o)).toEqual([]);
    expect(invariants(elsewhere.o)).toEqual(['frames answered']);
  });

  it('fail on an integration timeout, and on internal_error where no server error was injected', () => {
    // Prepare
    const timedOut = cleanRun();
    timedOut.acked.answer = 'gateway-timeout';
    const internal = cleanRun();
    internal.acked.answer = 'error:internal_error';
    const injected = cleanRun();
    injected.acked.answer = 'error:internal_error';
    injected.o.fired = [
      { at: T + 50, label: '5xx', functionName: 'send', command: 'PutItemCommand', effect: 'server-error' },
    ];

    // Act / Assess
    expect(invariants(timedOut.o)).toEqual(['frames answered']);
    expect(invariants(internal.o)).toEqual(['no internal_error']);
    expect(checkChaos(injected.o)).toEqual([]);
  });

  it('fail when letters are left in the dead-letter queue, or the probe was not delivered', () => {
    const { o } = cleanRun();
    o.deadLetters = 2;
    o.probeFailure = 'the probe did not reach every listener within 15 s';
    expect(invariants(o)).toEqual(['DLQ empty', 'healthy at the end']);
  });

  it('fail when the workload got nothing acked, so that no run passes without having tried anything', () => {
    const { o, firstSend, thirdSend } = cleanRun();
    firstSend.ackSeqs = [];
    thirdSend.ackSeqs = [];
    const user01 = o.conversations[0]?.items.filter((item) => item.senderId === 'user01') ?? [];
    for (const item of user01) Object.assign(item, { clientMessageId: 'never-acked' });
    expect(invariants(o)).toContain('workload acked');
    expect(invariants({ ...o, sends: [] })).toContain('workload acked');
  });

  it('fail when a send was refused for good', () => {
    const { o, thirdSend } = cleanRun();
    thirdSend.refused = 'conflict: another body';
    expect(invariants(o)).toEqual(['send refused']);
  });
});
