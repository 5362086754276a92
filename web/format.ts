/** How the page words times and sizes (errors: ./messages-in-words.ts). */

/** The hour and minute of an ISO time or epoch milliseconds, in the browser's locale. */
export const formatTime = (time: string | number): string =>
  new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/** A file size in B, KB or MB. */
export const formatSize = (bytes: number): string =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(1)} KB`
      : `${(bytes / 1048576).toFixed(1)} MB`;
