/**
 * A user on the client SDK (client/, imported from source), kept under fire: its socket is killed (the SDK
 * reconnects and resumes by itself) and the whole client is closed and replaced by a new one that opens
 * each conversation with `afterSeq` = the last seq it showed, as an app that restarts does. What it showed,
 * across all its clients, must be history exactly: each message once, in seq order (G4, G5).
 */
import WebSocket from 'ws';
import { type ChatClient, connect } from '../client';

/** A message as the app was shown it. */
export interface ShownMessage {
  seq: number;
  senderId: string;
  body: string;
}

export interface SdkWatcherOptions {
  userId: string;
  conversationIds: readonly string[];
  url: string;
  issueToken: (userId: string) => Promise<string>;
}

export class SdkWatcher {
  /** What the app showed per conversation, across every client, in the order shown. */
  readonly shown = new Map<string, ShownMessage[]>();
  kills = 0;
  closes = 0;
  private chat: ChatClient | undefined;
  private readonly sockets: WebSocket[] = [];

  constructor(private readonly options: SdkWatcherOptions) {
    for (const id of options.conversationIds) this.shown.set(id, []);
  }

  /** Opens a client and every conversation after the last seq shown there. */
  open(): void {
    const sockets = this.sockets;
    // The SDK takes a WebSocket constructor; this one remembers its sockets so a fault can kill one.
    class TrackedWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    }
    const chat = connect({
      url: this.options.url,
      tokenProvider: () => this.options.issueToken(this.options.userId),
      WebSocket: TrackedWebSocket as never,
    });
    this.chat = chat;
    for (const [conversationId, shown] of this.shown) {
      const afterSeq = shown.at(-1)?.seq ?? 0;
      chat.conversation(conversationId, { afterSeq }).on('message', (message) => {
        // A closed client's stream must not add to the transcript of the client that replaced it.
        if (this.chat !== chat) return;
        shown.push({ seq: message.seq, senderId: message.senderId, body: message.body });
      });
    }
  }

  /** Kills the client's socket without a close frame; the SDK reconnects and resumes its streams. */
  kill(): void {
    const socket = this.sockets.at(-1);
    if (socket === undefined || socket.readyState !== WebSocket.OPEN) return;
    this.kills++;
    socket.terminate();
  }

  /** Closes the client, as an app that quits, and opens a new one where it left off. */
  reopen(): void {
    this.closes++;
    this.chat?.close();
    this.open();
  }

  close(): void {
    this.chat?.close();
    this.chat = undefined;
  }
}
