/** How the page words what it shows: errors from the server, and times. */
import { ChatRequestError } from '../client';

/** A request error as "message (code)"; anything else as its string. */
export const describeError = (err: unknown): string =>
  err instanceof ChatRequestError ? `${err.message} (${err.code})` : String(err);

/** The hour and minute of an ISO time or epoch milliseconds, in the browser's locale. */
export const formatTime = (time: string | number): string =>
  new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
