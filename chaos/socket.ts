/**
 * A raw WebSocket client as a non-SDK client would write one (docs/protocol.md): it sends frames with a
 * requestId, matches each reply to its frame, and hands every push to its owner. Every frame and its
 * answer go into the ledger. API Gateway's own answers (`Internal server error` after a crashed
 * invocation, `Endpoint request timed out`) carry AWS's request id, not the client's, so they are matched to
 * the oldest frame of the socket still unanswered, as a client that sends one frame at a time can.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { Answer, FrameRecord, Ledger, SocketRecord } from './ledger';

export type Frame = Record<string, unknown>;

interface Pending {
  record: FrameRecord;
  resolve: (reply: Frame | undefined) => void;
}

/** Thrown when the handshake is refused or the socket fails before it opens. */
export class SocketOpenError extends Error {}

export class RawSocket {
  private readonly pending = new Map<string, Pending>();
  private readonly closeListeners: (() => void)[] = [];

  private constructor(
    private readonly socket: WebSocket,
    readonly record: SocketRecord,
    onPush: (frame: Frame) => void,
  ) {
    socket.on('message', (data) => {
      let frame: Frame;
      try {
        frame = JSON.parse(data.toString()) as Frame;
      } catch {
        return;
      }
      if (frame.type === 'ack' || frame.type === 'error') this.answer(frame);
      else if (frame.type === undefined && typeof frame.message === 'string') this.answerFromGateway(frame);
      else onPush(frame);
    });
    socket.on('close', () => {
      record.closedAt ??= Date.now();
      for (const { resolve } of this.pending.values()) resolve(undefined);
      this.pending.clear();
      for (const listener of this.closeListeners.splice(0)) listener();
    });
    socket.on('error', () => undefined);
  }

  /** Opens a socket for `userId` at `url` (which carries its token). */
  static open(
    url: string,
    userId: string,
    ledger: Ledger,
    onPush: (frame: Frame) => void,
  ): Promise<RawSocket> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      const fail = (why: string): void => {
        socket.terminate();
        reject(new SocketOpenError(`${userId}: ${why}`));
      };
      const timer = setTimeout(() => fail('no handshake within 15 s'), 15_000);
      socket.once('open', () => {
        clearTimeout(timer);
        resolve(new RawSocket(socket, ledger.openSocket(userId), onPush));
      });
      socket.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        fail(`handshake refused with HTTP ${res.statusCode ?? 0}`);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        fail(err.message);
      });
    });
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /**
   * Sends `frame` with a fresh requestId; the promise resolves with its answer (an ack, an error or one of
   * API Gateway's own), or undefined when the socket closed first.
   */
  request(frame: Frame, ledger: Ledger): { record: FrameRecord; reply: Promise<Frame | undefined> } {
    const requestId = randomUUID();
    const record = ledger.sent({
      socket: this.record.id,
      action: String(frame.action),
      requestId,
      ...(typeof frame.clientMessageId === 'string' ? { clientMessageId: frame.clientMessageId } : {}),
    });
    const reply = new Promise<Frame | undefined>((resolve) => {
      if (!this.isOpen) {
        resolve(undefined);
        return;
      }
      this.pending.set(requestId, { record, resolve });
      this.socket.send(JSON.stringify({ ...frame, requestId }));
    });
    return { record, reply };
  }

  /** Calls `listener` once the socket has closed, for whatever reason. */
  onClose(listener: () => void): void {
    if (this.socket.readyState === WebSocket.CLOSED) listener();
    else this.closeListeners.push(listener);
  }

  /** Ends the socket at once, without a close frame: a client that died. */
  terminate(): void {
    this.socket.terminate();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.onClose(resolve);
      this.socket.close();
    });
  }

  private settle(requestId: string, answer: Answer, frame: Frame): void {
    const pending = this.pending.get(requestId);
    if (pending === undefined) return;
    this.pending.delete(requestId);
    pending.record.answeredAt = Date.now();
    pending.record.answer = answer;
    pending.resolve(frame);
  }

  private answer(frame: Frame): void {
    if (typeof frame.requestId !== 'string') return;
    this.settle(frame.requestId, frame.type === 'ack' ? 'ack' : `error:${String(frame.code)}`, frame);
  }

  private answerFromGateway(frame: Frame): void {
    const oldest = this.pending.keys().next();
    if (oldest.done === true) return;
    const timedOut = /timed out/i.test(String(frame.message));
    this.settle(oldest.value, timedOut ? 'gateway-timeout' : 'gateway-error', frame);
  }
}
