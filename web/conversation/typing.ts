import { ui } from '../ui';

/** How long "bob is typing…" stays after bob's last typing event (the server sends one per 3 s at most). */
const TYPING_SHOWN_MS = 4_000;

/** The "bob is typing…" line of the open conversation; it starts empty. */
export class TypingLine {
  /** Who is typing, each with the timer that takes them off the line. */
  private readonly typists = new Map<string, ReturnType<typeof setTimeout>>();

  constructor() {
    ui.typing.textContent = '';
  }

  /** A `typing` event: `userId` is on the line until TYPING_SHOWN_MS after their last one. */
  show(userId: string): void {
    clearTimeout(this.typists.get(userId));
    this.typists.set(
      userId,
      setTimeout(() => this.stop(userId), TYPING_SHOWN_MS),
    );
    this.render();
  }

  /** `userId` stopped typing: their message arrived. */
  stop(userId: string): void {
    if (!this.typists.has(userId)) return;
    clearTimeout(this.typists.get(userId));
    this.typists.delete(userId);
    this.render();
  }

  /** Stops the timers; the view is closing. */
  clear(): void {
    for (const timer of this.typists.values()) clearTimeout(timer);
  }

  private render(): void {
    const names = [...this.typists.keys()];
    ui.typing.textContent =
      names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
  }
}
