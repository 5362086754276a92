import { h } from '../dom';
import { ui } from '../ui';

/**
 * The presence line under the conversation header: each member but you, online or offline, or unknown
 * while this page's own connection is down (a dot that stayed green then would be a guess).
 */
export class PresenceLine {
  /** Members with a live connection: asked when the conversation opens, then kept by presence events. */
  private readonly online = new Set<string>();

  constructor(
    private readonly me: string,
    /** Whether this page's connection is open. */
    private readonly connected: () => boolean,
  ) {}

  /** `userId` is online or not (the `presence` answer, presence events, a member gone). */
  set(userId: string, online: boolean): void {
    if (online) this.online.add(userId);
    else this.online.delete(userId);
  }

  /** This page went offline: who is online is asked again when it is back. */
  forgetOnline(): void {
    this.online.clear();
  }

  /** Shows the members, as far as they are known, and anyone else seen online here. */
  render(members: readonly string[] | undefined): void {
    const known = this.connected();
    const shown = [...new Set([...(members ?? []), ...this.online])].filter((m) => m !== this.me);
    ui.conversationPresence.replaceChildren(
      ...shown.map((userId) => {
        const online = known ? String(this.online.has(userId)) : 'unknown';
        return h(
          'span',
          {
            class: 'member',
            'data-user': userId,
            'data-online': online,
            dir: 'auto',
            title: known ? undefined : 'Not known while you are offline',
          },
          `${userId}${online === 'true' ? '' : online === 'false' ? ' (offline)' : ''}`,
        );
      }),
    );
  }

  clear(): void {
    ui.conversationPresence.replaceChildren();
  }
}
