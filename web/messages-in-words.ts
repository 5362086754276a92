/**
 * Every refusal the page can cause, in one sentence a person understands. The server's own messages are
 * written for developers (they name ids, seqs and schema paths), so the page words each error code for
 * the action that met it, and keeps the server's text only where it is already a sentence for people
 * (the limits: "You may block at most 500 users; unblock one first").
 */
import { ChatRequestError } from '../client';
import { ui } from './ui';

/** What the user tried: the words depend on it (a `forbidden` send and a `forbidden` remove differ). */
export type PageAction =
  | 'create'
  | 'direct'
  | 'open'
  | 'send'
  | 'edit'
  | 'delete'
  | 'attach'
  | 'add'
  | 'remove'
  | 'promote'
  | 'block'
  | 'leave'
  | 'older'
  | 'list'
  | 'invitation'
  | 'settings'
  | 'download';

/** The sentence for a conversation the user cannot read: it was never there, is gone, or they left it. */
export const NOT_IN_CONVERSATION = 'This conversation does not exist or you are not in it.';

/** The sentence for a session whose tokens the server no longer accepts. */
export const SESSION_ENDED = 'Your session ended; sign in again.';

/** What each action is, after "Could not …". */
const attempted: Record<PageAction, string> = {
  create: 'create the conversation',
  direct: 'open the direct conversation',
  open: 'open this conversation',
  send: 'send the message',
  edit: 'edit the message',
  delete: 'delete the message',
  attach: 'attach the file',
  add: 'add them',
  remove: 'remove them',
  promote: 'make them an admin',
  block: 'block them',
  leave: 'leave the conversation',
  older: 'read older messages',
  list: 'list your conversations',
  invitation: 'answer the invitation',
  settings: 'change who can add you',
  download: 'show the file',
};

/** Why a `forbidden` answer came, by action: the server says it only for the case at hand. */
function forbidden(action: PageAction): string {
  switch (action) {
    case 'edit':
    case 'delete':
      return 'Only the sender of a message can edit or delete it.';
    case 'add':
    case 'remove':
    case 'promote':
      return 'Only an admin of this conversation can do that.';
    case 'create':
    case 'direct':
    case 'block':
    case 'invitation':
    case 'settings':
      return `They do not accept this from you, so the page could not ${attempted[action]}.`;
    default:
      return NOT_IN_CONVERSATION;
  }
}

/** Why an `invalid_request` answer came, by action: the page checks most input itself before sending. */
function invalid(action: PageAction): string {
  switch (action) {
    case 'create':
    case 'add':
      return 'Name at least one other person by user id (letters, digits, no spaces).';
    case 'direct':
      return 'That is not a user id (letters, digits, no spaces), or it is your own.';
    case 'attach':
      return 'The file was not accepted: images (PNG, JPEG, GIF, WebP) and PDF only, within the size limit.';
    case 'send':
    case 'edit':
      return 'The message was not accepted: it may be empty or contain characters that cannot be sent.';
    case 'open':
      return NOT_IN_CONVERSATION;
    default:
      return `The server did not accept that, so the page could not ${attempted[action]}.`;
  }
}

/** A refusal (or any failure) of `action`, as one sentence for the person at the page. */
export function inWords(err: unknown, action: PageAction): string {
  if (!(err instanceof ChatRequestError))
    return `Could not ${attempted[action]}: the connection failed. Try again.`;
  switch (err.code) {
    case 'forbidden':
      return forbidden(action);
    case 'not_found':
      if (action === 'edit' || action === 'delete') return 'That message is gone.';
      if (action === 'download') return 'The file is no longer available.';
      if (action === 'attach') return 'The upload was lost before it was sent. Try again.';
      return NOT_IN_CONVERSATION;
    case 'invalid_request':
    case 'invalid_json':
    case 'unknown_action':
      return invalid(action);
    case 'payload_too_large':
      return action === 'attach' ? 'The file is too large.' : 'The message is too long.';
    case 'limit_exceeded':
      // These messages are written for people: "A group may have at most 100 members".
      return err.message;
    case 'conflict':
      return 'That message was already sent with other words. Send it again as a new message.';
    case 'rate_limited':
      return 'You are going too fast. Wait a moment and try again.';
    case 'busy':
    case 'internal_error':
      return `The server could not ${attempted[action]} just now. Try again in a moment.`;
    case 'unauthorized':
    case 'token_expired':
      return SESSION_ENDED;
    case 'no_answer':
    case 'connection_gone':
      return `The server did not answer, so the page could not ${attempted[action]}. Check your connection and try again.`;
    case 'closed':
      return `You are signed out, so the page could not ${attempted[action]}.`;
  }
  // A code newer than this page.
  return `Could not ${attempted[action]}. Try again.`;
}

/**
 * Empties every error line: an action succeeded (or another conversation opened), so what failed before
 * no longer applies.
 */
export function clearErrorLines(): void {
  for (const line of [ui.conversationError, ui.createError, ui.directError, ui.invitationError])
    line.textContent = '';
}
