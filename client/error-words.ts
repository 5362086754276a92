/**
 * Refusals in words a person understands, shared by the web page and the terminal client: what the user
 * tried (`action`) and the server's or the SDK's code give one sentence, never a raw code or validation
 * text. Pure and dependency-free, so each app imports it without pulling in the rest of the SDK.
 */
import { LIMITS } from '../shared/limits';

/** What the user tried: the app's own verbs, not the protocol's actions. */
export type ErrorAction =
  | 'send'
  | 'attach'
  | 'edit'
  | 'delete'
  | 'open'
  | 'create'
  | 'add'
  | 'remove'
  | 'leave'
  | 'promote'
  | 'block'
  | 'unblock'
  | 'accept'
  | 'decline'
  | 'createRoom'
  | 'joinRoom'
  | 'slowMode'
  | 'unban'
  | 'newLink';

/** The words for a conversation the server will not show: it tells absent and not-a-member apart for nobody. */
export const NOT_IN_CONVERSATION = 'This conversation does not exist or you are not in it.';

const megabytes = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MB`;

/** `forbidden` depends most on what was tried: the server uses it for every "not yours to do". */
function forbidden(action: ErrorAction, detail = ''): string {
  switch (action) {
    case 'edit':
    case 'delete':
      return `You can ${action} only your own messages, in a conversation you are in.`;
    case 'remove':
    case 'promote':
      return `Only an admin of this conversation can ${action} members.`;
    case 'add':
    case 'create':
      return 'That person cannot be added by you: they blocked you, or only their contacts may add them.';
    case 'accept':
    case 'decline':
      return 'That invitation is no longer open.';
    case 'joinRoom':
      // A ban is the one refusal whose words the user needs to tell from a wrong link.
      return detail.startsWith('An admin removed you')
        ? 'An admin of this room banned you: only an admin can lift the ban.'
        : 'No room opens with that id and link: check the link, or ask an admin of the room for it.';
    case 'slowMode':
      return 'Only an admin of this room can set its slow mode.';
    case 'unban':
      return 'Only an admin of this room can lift a ban.';
    case 'newLink':
      return 'Only an admin of this room can change its link.';
    default:
      return NOT_IN_CONVERSATION;
  }
}

function invalid(action: ErrorAction): string {
  switch (action) {
    case 'send':
    case 'edit':
      return 'That text cannot be sent: it is empty or not valid text.';
    case 'attach':
      return 'That file was refused: its contents do not match its type, or it is empty.';
    case 'leave':
    case 'remove':
      return 'A direct conversation always keeps its two members: it cannot be left.';
    case 'create':
    case 'add':
      return 'Those names are not valid user ids (letters, digits, - and _), or no one else was named.';
    case 'createRoom':
    case 'slowMode':
      return `A room needs a title of 1-${LIMITS.maxTitleLength} characters, and a slow mode of 0-${LIMITS.maxSlowModeSeconds} seconds.`;
    case 'joinRoom':
      return 'That is not a room id or a room link.';
    case 'unban':
      return 'That is not a user id (letters, digits, - and _).';
    case 'newLink':
      return 'A public room has no invitation link to change: anyone joins it by its id.';
    default:
      return 'The server did not accept that; check what you typed.';
  }
}

/**
 * One sentence for a refusal of `action` with `code` (a protocol error code, or the SDK's `no_answer`
 * and `closed`). `detail` is the server's message; it is used only for `limit_exceeded`, whose messages
 * name the limit in words already (and never carry validation text), and to tell a ban from a wrong link.
 */
export function errorWords(code: string, action: ErrorAction, detail?: string): string {
  switch (code) {
    case 'forbidden':
      return forbidden(action, detail);
    case 'not_found':
      if (action === 'edit' || action === 'delete') return 'That message does not exist or was deleted.';
      if (action === 'attach')
        return 'The upload was not found (it may have expired); attach the file again.';
      return NOT_IN_CONVERSATION;
    case 'invalid_request':
      return invalid(action);
    case 'payload_too_large':
      return action === 'attach'
        ? `The file is too large: the limit is ${megabytes(LIMITS.maxAttachmentBytes)}.`
        : `The message is too long: the limit is ${LIMITS.maxBodyBytes / 1024} KB of text.`;
    case 'limit_exceeded':
      return detail ? `${detail.replace(/\.$/, '')}.` : 'A limit was reached; nothing was changed.';
    case 'conflict':
      return 'Something changed at the same moment; try again.';
    case 'busy':
    case 'rate_limited':
      return 'Too much at once: wait a moment and try again.';
    case 'unauthorized':
    case 'token_expired':
      return 'You are signed out: sign in again.';
    case 'no_answer':
      return 'The server did not answer; it may or may not have happened, so check before trying again.';
    case 'closed':
      return 'The connection is closed.';
    case 'connection_gone':
      return 'The connection was lost; try again once reconnected.';
    case 'unknown_action':
    case 'invalid_json':
      return 'This app and the server do not understand each other: update the app.';
    default:
      return 'The server had a problem; try again.';
  }
}
