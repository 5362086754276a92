/**
 * The client's methods that are one request each, answered with (part of) its ack: members, blocks,
 * invitations, uploads, lists and pages, rooms. The stateful ones (sending, streams, typing) are
 * ChatClient's (./client.ts), which extends this class.
 */
import { CLIENT_LIMITS } from '../shared/client-limits';
import { Emitter } from './emitter';
import type { ClientEvents } from './options';
import { type OlderPage, toOlderPage } from './pages';
import type {
  Action,
  Actions,
  AttachmentContentType,
  Invitation,
  JoinRoomAck,
  RoomAccess,
  RoomInfo,
  WhoCanAdd,
} from './types';

/** The one-request methods of {@link ChatClient}, over its `request`. */
export abstract class ChatCalls extends Emitter<ClientEvents> {
  /**
   * Sends one request and resolves with its ack. Retryable errors are retried (after `retryAfterMs`
   * when the server gives one); permanent ones reject with a {@link ChatRequestError}.
   */
  abstract request<A extends Action>(action: A, fields: Actions[A]['fields']): Promise<Actions[A]['ack']>;

  /** A room's answer was heard: its open stream's state takes the viewer count. */
  protected abstract roomHeard(room: RoomInfo): void;

  /** A presigned POST for one file of `contentType` and exactly `size` bytes (members only). */
  uploadUrl(
    conversationId: string,
    contentType: AttachmentContentType,
    size: number,
  ): Promise<Actions['uploadUrl']['ack']> {
    return this.request('uploadUrl', { conversationId, contentType, size });
  }

  /** A presigned GET of an attachment of the conversation, valid 5 minutes: ask for it when you show it. */
  downloadUrl(conversationId: string, key: string): Promise<Actions['downloadUrl']['ack']> {
    return this.request('downloadUrl', { conversationId, key });
  }

  /** Removes a member (creator or admin only; not in a direct conversation). Their subscriptions end at once. */
  removeMember(conversationId: string, userId: string): Promise<Actions['removeMember']['ack']> {
    return this.request('removeMember', { conversationId, userId });
  }

  /**
   * Makes a member an admin (admins only; not in a direct conversation): they may then remove members,
   * promote others, and add back users an admin removed.
   */
  promote(conversationId: string, userId: string): Promise<Actions['promote']['ack']> {
    return this.request('promote', { conversationId, userId });
  }

  /**
   * Blocks a user: they can no longer open a direct conversation with you nor add you to a group (their
   * attempts are refused `forbidden`). Conversations you share already stay.
   */
  block(userId: string): Promise<Actions['block']['ack']> {
    return this.request('block', { userId });
  }

  /** Takes a user off your block list. */
  unblock(userId: string): Promise<Actions['unblock']['ack']> {
    return this.request('unblock', { userId });
  }

  /** The users you block, sorted. */
  listBlocked(): Promise<string[]> {
    return this.request('listBlocked', {}).then((ack) => ack.userIds);
  }

  /**
   * Who may add you to a group straight away: `anyone`, `contacts` (people who share a group with you)
   * or `nobody`. Anyone else's add becomes an invitation (the `invitation` event, `listInvitations`).
   */
  setWhoCanAdd(whoCanAdd: WhoCanAdd): Promise<WhoCanAdd> {
    return this.request('setWhoCanAdd', { whoCanAdd }).then((ack) => ack.whoCanAdd);
  }

  /** Your pending invitations to groups, newest first. */
  listInvitations(): Promise<Invitation[]> {
    return this.request('listInvitations', {}).then((ack) => ack.invitations);
  }

  /** Accepts an invitation: you become a member, with the group's history (`joined: false` if it was answered already). */
  accept(conversationId: string): Promise<Actions['accept']['ack']> {
    return this.request('accept', { conversationId });
  }

  /** Declines an invitation: it is forgotten, and the group is not told. */
  decline(conversationId: string): Promise<Actions['decline']['ack']> {
    return this.request('decline', { conversationId });
  }

  addMembers(conversationId: string, members: string[]): Promise<Actions['addMembers']['ack']> {
    return this.request('addMembers', { conversationId, members });
  }

  /** Moves your read cursor in a conversation forward to `seq` (it never moves back). */
  markRead(conversationId: string, seq: number): Promise<Actions['read']['ack']> {
    return this.request('read', { conversationId, seq });
  }

  /**
   * Which members of a conversation are online now; `presence` events tell the changes after that.
   * `request('presence', …)` answers the whole ack: with `readSeqs`, every member's read cursor in
   * groups of up to 20 members, to show "seen by" before any `read` push.
   */
  presence(conversationId: string): Promise<string[]> {
    return this.request('presence', { conversationId }).then((ack) => ack.online);
  }

  /**
   * A page of the caller's conversations, in conversation id order (one page costs the server the same
   * however many conversations the caller has), with unread counts and each one's newest entry (`last`).
   * Pass the page's `nextCursor` as `cursor` for the next one; {@link listAllConversations} reads them all.
   */
  listConversations(
    page: number | { limit?: number; cursor?: string } = {},
  ): Promise<Actions['listConversations']['ack']> {
    const { limit, cursor } = typeof page === 'number' ? { limit: page, cursor: undefined } : page;
    return this.request('listConversations', {
      ...(limit === undefined ? {} : { limit }),
      ...(cursor === undefined ? {} : { cursor }),
    });
  }

  /**
   * Every conversation of the caller, newest activity first: the pages of `listConversations` read one
   * after another (at most `maxPages`, by default enough for LIMITS.maxConversationsPerUser), then sorted
   * by `lastActivityAt`. `hasMore` says pages were left unread.
   */
  async listAllConversations(
    maxPages = Math.ceil(CLIENT_LIMITS.maxConversationsPerUser / CLIENT_LIMITS.maxPageSize) + 1,
  ): Promise<Actions['listConversations']['ack']> {
    const conversations: Actions['listConversations']['ack']['conversations'] = [];
    let cursor: string | undefined;
    for (let page = 0; page < maxPages; page++) {
      const next = await this.listConversations({
        limit: CLIENT_LIMITS.maxPageSize,
        ...(cursor && { cursor }),
      });
      conversations.push(...next.conversations);
      cursor = next.nextCursor;
      if (!next.hasMore || cursor === undefined) break;
    }
    conversations.sort(
      (a, b) =>
        b.lastActivityAt.localeCompare(a.lastActivityAt) || a.conversationId.localeCompare(b.conversationId),
    );
    return { conversations, hasMore: cursor !== undefined };
  }

  /** The page before `beforeSeq` (default: the newest) as `loadOlder()` gives it; the raw one: `request('history', …)`. */
  history(conversationId: string, options: { beforeSeq?: number; limit?: number } = {}): Promise<OlderPage> {
    return this.request('history', { conversationId, ...options }).then(toOlderPage);
  }

  /**
   * Creates a room (a conversation for an audience, without a member cap) with you as its admin:
   * `public` (the default: anyone signed in joins it by its id) or `link` (only with its `inviteCode`,
   * which its admins are answered). With `slowModeSeconds`, each member may post once per that many seconds;
   * with `tickMs` (up to 2,000), each viewer gets the room's pushes at most once per that many milliseconds.
   */
  createRoom(
    title: string,
    options: { access?: RoomAccess; slowModeSeconds?: number; tickMs?: number } = {},
  ): Promise<RoomInfo> {
    return this.room('createRoom', { title, access: 'public', ...options });
  }

  /** Joins a room: a public one by its id, a link one with its invite `code` (`joined: false` if you were in). */
  joinRoom(conversationId: string, code?: string): Promise<JoinRoomAck> {
    return this.request('joinRoom', { conversationId, code }).then((ack) => {
      this.roomHeard(ack.room);
      return ack;
    });
  }

  /** A room's settings and viewer count now (members may ask, and anyone of a public room). */
  roomInfo(conversationId: string): Promise<RoomInfo> {
    return this.room('roomInfo', { conversationId });
  }

  /** Sets a room's slow mode, in seconds between two messages of a member (admins only; 0 turns it off). */
  setSlowMode(conversationId: string, slowModeSeconds: number): Promise<RoomInfo> {
    return this.room('setSlowMode', { conversationId, slowModeSeconds });
  }

  /** Sets a room's tick (admins only): viewers get its pushes at most once per `tickMs` (0 turns it off). */
  setTick(conversationId: string, tickMs: number): Promise<RoomInfo> {
    return this.room('setTick', { conversationId, tickMs });
  }

  /**
   * Gives a link room a new invite code (admins only): its old link stops opening it; its members stay.
   * The answer's `inviteCode` makes the new link.
   */
  newInviteCode(conversationId: string): Promise<RoomInfo> {
    return this.room('newInviteCode', { conversationId });
  }

  /** Lifts a ban (`removeMember` in a room; admins only): they may join again (`unbanned: false` if not banned). */
  unbanMember(conversationId: string, userId: string): Promise<Actions['unbanMember']['ack']> {
    return this.request('unbanMember', { conversationId, userId });
  }

  /** A page of who is banned from a room, in user id order (admins only); pass `nextCursor` as `cursor` for the next. */
  listBanned(
    conversationId: string,
    page: { limit?: number; cursor?: string } = {},
  ): Promise<Actions['listBanned']['ack']> {
    return this.request('listBanned', { conversationId, ...page });
  }

  private room<A extends 'createRoom' | 'roomInfo' | 'setSlowMode' | 'setTick' | 'newInviteCode'>(
    action: A,
    fields: Actions[A]['fields'],
  ): Promise<RoomInfo> {
    return this.request(action, fields).then(({ room }) => {
      this.roomHeard(room);
      return room;
    });
  }
}
