import type { ChatClient } from '../client';
import { ui } from './ui';

/** The connection line in the top bar: the SDK's state, the reconnect in progress and how many there were. */
export class ConnectionStatus {
  private state = 'connecting';
  private text = 'connecting';
  private opens = 0;

  constructor() {
    window.addEventListener('online', () => this.render());
    window.addEventListener('offline', () => this.render());
  }

  watch(chat: ChatClient): void {
    chat.on('connecting', ({ attempt }) =>
      this.set('connecting', attempt === 0 ? 'connecting' : `connecting (attempt #${attempt})`),
    );
    chat.on('open', () => {
      this.opens++;
      const reconnects = this.opens - 1;
      this.set('open', reconnects === 0 ? 'open' : `open · reconnected ${reconnects}×`);
    });
    chat.on('reconnecting', ({ attempt, delayMs, reason }) =>
      this.set(
        'reconnecting',
        `reconnecting #${attempt} in ${Math.round(delayMs)} ms (${reason === 'too_many_connections' ? 'too many connections: close another tab or device' : reason})`,
      ),
    );
    chat.on('auth_failed', ({ message }) => this.set('reconnecting', message));
    chat.on('closed', ({ reason }) =>
      this.set(
        'closed',
        reason === 'client'
          ? 'closed'
          : reason === 'auth_failed'
            ? 'closed: sign in again'
            : 'closed: gave up reconnecting',
      ),
    );
  }

  signedOut(): void {
    this.opens = 0;
    this.set('signed-out', 'not signed in');
  }

  private set(state: string, text: string): void {
    this.state = state;
    this.text = text;
    this.render();
  }

  private render(): void {
    const waiting = (this.state === 'connecting' || this.state === 'reconnecting') && !navigator.onLine;
    ui.connection.dataset.state = this.state;
    ui.connection.dataset.reconnects = String(Math.max(0, this.opens - 1));
    ui.connectionText.textContent = waiting ? `${this.text} · offline, waiting for the network` : this.text;
    ui.connection.title = ui.connectionText.textContent;
  }
}
