/**
 * A WebSocket test client for end-to-end tests: connects like a browser would (token in the query
 * string), sends frames with a requestId, and collects the replies and pushes it receives.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

export type Frame = Record<string, unknown> & { type?: string };

/** Thrown when the handshake is refused; `status` is the HTTP status API Gateway answered with. */
export class HandshakeRefusedError extends Error {
  constructor(readonly status: number) {
    super(`Handshake refused with HTTP ${status}`);
  }
}

export class ChatClient {
  readonly frames: Frame[] = [];
  private readonly waiters = new Map<string, (frame: Frame) => void>();
  private readonly replyListeners = new Set<(frame: Frame) => void>();
  closeCode: number | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.frames.push(frame);
      const requestId = typeof frame.requestId === 'string' ? frame.requestId : undefined;
      if (requestId !== undefined) for (const listener of this.replyListeners) listener(frame);
      const waiter = requestId === undefined ? undefined : this.waiters.get(requestId);
      if (requestId !== undefined && waiter !== undefined) {
        this.waiters.delete(requestId);
        waiter(frame);
      }
    });
    socket.on('close', (code) => {
      this.closeCode = code;
    });
  }

  /** Opens a connection; rejects with HandshakeRefusedError when `$connect` is refused. */
  static connect(url: string): Promise<ChatClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.once('open', () => resolve(new ChatClient(socket)));
      socket.once('unexpected-response', (_req, res) => {
        reject(new HandshakeRefusedError(res.statusCode ?? 0));
        socket.terminate();
      });
      socket.once('error', reject);
    });
  }

  /** Sends an action frame and resolves with the reply frame that echoes its requestId. */
  request(frame: Record<string, unknown>, timeoutMs = 10_000): Promise<Frame> {
    const requestId = typeof frame.requestId === 'string' ? frame.requestId : randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(requestId);
        reject(new Error(`No reply to ${String(frame.action)} ${requestId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(requestId, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.socket.send(JSON.stringify({ ...frame, requestId }));
    });
  }

  /** Calls `listener` with every frame that carries a requestId, late ones included; returns the unsubscribe. */
  onReply(listener: (frame: Frame) => void): () => void {
    this.replyListeners.add(listener);
    return () => this.replyListeners.delete(listener);
  }

  /** Sends raw text (for malformed frames); the reply is read from `frames`. */
  sendRaw(text: string): void {
    this.socket.send(text);
  }

  /**
   * Every push (a frame answering no request), in arrival order, duplicates included; those that came in a
   * `batch` frame (the fan-out coalesces what it has at hand) in their order within it. With
   * `conversationId`, only that conversation's.
   */
  pushes(conversationId?: string): Frame[] {
    return this.frames
      .filter((frame) => frame.requestId === undefined && frame.type !== 'ack' && frame.type !== 'error')
      .filter((frame) => conversationId === undefined || frame.conversationId === conversationId)
      .flatMap((frame) => (frame.type === 'batch' ? (frame.frames as Frame[]) : [frame]));
  }

  /** Pushed chat messages of a conversation, in arrival order (duplicates included), batches unpacked. */
  messages(conversationId: string): Frame[] {
    return this.pushes(conversationId).filter((frame) => frame.type === 'message');
  }

  /**
   * The distinct seqs received for a conversation, sorted: what the client SDK would show. The sending
   * connection is not pushed its own messages: their send acks count.
   */
  seqs(conversationId: string): number[] {
    const ownAcks = this.frames.filter(
      (frame) => frame.type === 'ack' && frame.action === 'send' && frame.conversationId === conversationId,
    );
    const frames = [...this.messages(conversationId), ...ownAcks];
    return [...new Set(frames.map((frame) => Number(frame.seq)))].sort((a, b) => a - b);
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}

/** 1..n, for comparing seq lists. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
