/** How the page words times (errors: ./messages-in-words.ts). */

/** The hour and minute of an ISO time or epoch milliseconds, in the browser's locale. */
export const formatTime = (time: string | number): string =>
  new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
