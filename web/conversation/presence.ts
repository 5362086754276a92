import { h } from '../dom';
import { ui } from '../ui';

/** The presence line under the conversation header: each member but you, online or offline. */
export class PresenceLine {
  /** Members with a live connection: asked when the conversation opens, then kept by presence events. */
  private readonly online = new Set<string>();

  constructor(private readonly me: string) {}

  /** `userId` is online or not (the `presence` answer, presence events, a member gone). */
  set(userId: string, online: boolean): void {
    if (online) this.online.add(userId);
    else this.online.delete(userId);
  }

  /** Shows the members, as far as they are known, and anyone else seen online here. */
  render(members: readonly string[] | undefined): void {
    const shown = [...new Set([...(members ?? []), ...this.online])].filter((m) => m !== this.me);
    ui.conversationPresence.replaceChildren(
      ...shown.map((userId) => {
        const online = this.online.has(userId);
        return h(
          'span',
          { class: 'member', 'data-user': userId, 'data-online': String(online), dir: 'auto' },
          `${userId}${online ? '' : ' (offline)'}`,
        );
      }),
    );
  }

  clear(): void {
    ui.conversationPresence.replaceChildren();
  }
}
