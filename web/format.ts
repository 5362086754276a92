/** How the page words what it shows: errors from the server, and times. */
import { ChatRequestError } from '../client';

export const describeError = (err: unknown): string =>
  err instanceof ChatRequestError ? `${err.message} (${err.code})` : String(err);

export const formatTime = (time: string | number): string =>
  new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
