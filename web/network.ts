/**
 * What the page adds to the SDK's reconnect logic in a browser. Chromium keeps an open WebSocket
 * "alive" when the network goes away (and when DevTools or a test emulates offline): nothing is
 * received, no close event comes until TCP gives up minutes later. The browser does know it is
 * offline, though, and says so with the `offline` event. So the page drops its sockets on `offline`,
 * which sends the SDK into its reconnect loop at once, and holds the next connection attempt until
 * `online`, so it reconnects the moment the network is back instead of after its backoff.
 */
import type { WebSocketConstructor, WebSocketLike } from '../client';

/** Resolves at once when the browser is online, otherwise at the next `online` event. */
export function untilOnline(): Promise<void> {
  if (navigator.onLine) return Promise.resolve();
  return new Promise((resolve) => window.addEventListener('online', () => resolve(), { once: true }));
}

/** A WebSocket constructor for `connect()` whose sockets close themselves when the browser goes offline. */
export function offlineAwareWebSocket(): WebSocketConstructor {
  const live = new Set<OfflineAwareSocket>();
  window.addEventListener('offline', () => {
    for (const socket of [...live]) socket.drop();
  });

  class OfflineAwareSocket implements WebSocketLike {
    onopen: ((event: never) => void) | null = null;
    onmessage: ((event: never) => void) | null = null;
    onclose: ((event: never) => void) | null = null;
    onerror: ((event: never) => void) | null = null;
    private readonly socket: WebSocket;

    constructor(url: string) {
      this.socket = new WebSocket(url);
      this.socket.onopen = (event) => this.onopen?.(event as never);
      this.socket.onmessage = (event) => this.onmessage?.(event as never);
      this.socket.onerror = (event) => this.onerror?.(event as never);
      this.socket.onclose = (event) => {
        live.delete(this);
        this.onclose?.(event as never);
      };
      live.add(this);
    }

    send(data: string): void {
      this.socket.send(data);
    }

    close(code?: number, reason?: string): void {
      live.delete(this);
      this.socket.close(code, reason);
    }

    /** Closes without waiting for the server's close frame, which cannot arrive while offline. */
    drop(): void {
      live.delete(this);
      this.socket.onopen = this.socket.onmessage = this.socket.onerror = this.socket.onclose = null;
      this.socket.close();
      this.onclose?.(new CloseEvent('close', { code: 1006, reason: 'offline' }) as never);
    }
  }
  return OfflineAwareSocket;
}
