/**
 * A user who sends steadily, as a careful client does without the SDK: one message at a time, each with
 * its own clientMessageId, resent with that same id until acked (after an unanswered wait, a `busy` or
 * `rate_limited` answer's `retryAfterMs`, API Gateway's error, or a lost socket), so an ack is the only
 * end of a message. Faults make it resend in storms and lose its socket right after a send.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Ledger } from './ledger';
import type { Random } from './prng';
import { type Frame, RawSocket } from './socket';

/** Text in several scripts, emoji (4-byte, ZWJ, flags, skin tones), RTL and combining marks (G10). */
export const PHRASES: readonly string[] = [
  'hello there',
  'bonjour à tous 👋',
  'こんにちは、元気？',
  '你好，世界 𠜎',
  'مرحبا بالعالم — שלום',
  '안녕하세요 🇰🇷',
  'Привет, как дела?',
  '👩🏽‍💻 ships it 🚀',
  'e\u0301 n\u0303 क्षि',
  '👋🏿 🏳️‍🌈 🇯🇵🇧🇷',
];

/** A message as its sender saw it: what it sent, every seq an ack named, and how often it was resent. */
export interface SentMessage {
  conversationId: string;
  clientMessageId: string;
  senderId: string;
  body: string;
  firstSentAt: number;
  /** Every seq its acks named (one, unless the server broke G3). */
  ackSeqs: Set<number>;
  ackedAt?: number;
  /** Resends with the same clientMessageId: after no answer, a retryable refusal, or a lost socket. */
  resends: number;
  /** A permanent refusal (conflict, forbidden, …): the send never succeeded and was not retried. */
  refused?: string;
}

export interface SenderOptions {
  userId: string;
  conversationIds: readonly string[];
  connectUrl: (userId: string) => Promise<string>;
  ledger: Ledger;
  random: Random;
}

const RETRYABLE = new Set(['busy', 'rate_limited', 'internal_error', 'connection_gone']);

export class Sender {
  readonly messages: SentMessage[] = [];
  /** Extra copies of each send while a resend storm is on. */
  storm = 0;
  private killNext = false;
  private socket: RawSocket | undefined;
  private count = 0;

  constructor(private readonly options: SenderOptions) {}

  get userId(): string {
    return this.options.userId;
  }

  /** The next send's socket dies right after the frame is written: a client killed mid-send. */
  killAfterNextSend(): void {
    this.killNext = true;
  }

  /** Sends until `keepSending()` turns false, then finishes the message in hand (until `deadline`). */
  async run(keepSending: () => boolean, deadline: number): Promise<void> {
    const { random } = this.options;
    while (keepSending()) {
      await sleep(random.int(1_500, 4_500));
      if (!keepSending()) break;
      const conversationId = random.pick(this.options.conversationIds);
      const n = ++this.count;
      const message: SentMessage = {
        conversationId,
        clientMessageId: `${this.userId}.${n}`,
        senderId: this.userId,
        body: `${n} ${random.pick(PHRASES)}`,
        firstSentAt: Date.now(),
        ackSeqs: new Set(),
        resends: 0,
      };
      this.messages.push(message);
      await this.deliver(message, deadline);
    }
  }

  /** Closes the socket; the run is over. */
  async close(): Promise<void> {
    await this.socket?.close();
  }

  private async deliver(message: SentMessage, deadline: number): Promise<void> {
    const { ledger, random } = this.options;
    const frame = {
      action: 'send',
      conversationId: message.conversationId,
      clientMessageId: message.clientMessageId,
      body: message.body,
    };
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      if (attempt > 0) message.resends++;
      const socket = await this.openSocket(deadline);
      if (socket === undefined) return;
      const { reply } = socket.request(frame, ledger);
      for (let copy = 0; copy < this.storm; copy++) {
        socket.request(frame, ledger).reply.then((answer) => this.noteAck(message, answer));
      }
      if (this.killNext) {
        this.killNext = false;
        setImmediate(() => socket.terminate());
      }
      const answer = await Promise.race([
        reply,
        sleep(random.int(4_000, 12_000)).then(() => 'no-answer' as const),
      ]);
      if (answer === 'no-answer' || answer === undefined) continue;
      if (this.noteAck(message, answer)) return;
      if (answer.type === 'error') {
        const code = String(answer.code);
        if (!RETRYABLE.has(code)) {
          message.refused = `${code}: ${String(answer.message)}`;
          return;
        }
        const wait = typeof answer.retryAfterMs === 'number' ? answer.retryAfterMs : 500;
        await sleep(Math.min(wait, 5_000));
      } else {
        // API Gateway's own answer: the invocation failed or timed out, so the frame may be resent.
        await sleep(300);
      }
    }
  }

  /** Records an ack; answers whether `answer` was one. */
  private noteAck(message: SentMessage, answer: Frame | undefined): boolean {
    if (answer?.type !== 'ack') return false;
    message.ackSeqs.add(Number(answer.seq));
    message.ackedAt ??= Date.now();
    return true;
  }

  private async openSocket(deadline: number): Promise<RawSocket | undefined> {
    let delay = 250;
    while (this.socket === undefined || !this.socket.isOpen) {
      if (Date.now() >= deadline) return undefined;
      try {
        const url = await this.options.connectUrl(this.userId);
        this.socket = await RawSocket.open(url, this.userId, this.options.ledger, () => undefined);
      } catch {
        await sleep(delay);
        delay = Math.min(delay * 2, 2_000);
      }
    }
    return this.socket;
  }
}
