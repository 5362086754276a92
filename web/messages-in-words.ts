/**
 * Every refusal the page can cause, in one sentence a person understands: the SDK's words
 * (client/error-words.ts, shared with the terminal client) for the action the user tried, and the error
 * lines that show them.
 */
import { ChatRequestError } from '../client';
import { type ErrorAction, errorWords, NOT_IN_CONVERSATION } from '../client/error-words';
import { ui } from './ui';

export { NOT_IN_CONVERSATION };

/** What the user tried: the SDK's actions, and the page's own that read or change no message. */
export type PageAction = ErrorAction | 'direct' | 'older' | 'list' | 'settings' | 'download';

/** The SDK's action whose words fit each of the page's own. */
const wordedAs: Record<Exclude<PageAction, ErrorAction>, ErrorAction> = {
  // Refused only when the other user blocked you or does not exist: as an add.
  direct: 'create',
  older: 'open',
  list: 'open',
  settings: 'open',
  download: 'open',
};

const pageOnly = (action: PageAction): action is keyof typeof wordedAs => action in wordedAs;

/** A refusal (or any failure) of `action`, as one sentence for the person at the page. */
export function inWords(err: unknown, action: PageAction): string {
  if (!(err instanceof ChatRequestError)) return 'The connection failed; try again.';
  if (action === 'download' && err.code === 'not_found') return 'The file is no longer available.';
  return errorWords(err.code, pageOnly(action) ? wordedAs[action] : action, err.message);
}

/**
 * Empties every error line: an action succeeded (or another conversation opened), so what failed before
 * no longer applies.
 */
export function clearErrorLines(): void {
  for (const line of [
    ui.conversationError,
    ui.createError,
    ui.directError,
    ui.invitationError,
    ui.roomCreateError,
    ui.roomJoinError,
  ])
    line.textContent = '';
}
