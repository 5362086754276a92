/**
 * Queue bodies that SQS can never refuse. SQS accepts only #x9, #xA, #xD, #x20–#xD7FF, #xE000–#xFFFD
 * and #x10000–#x10FFFF in a message body, so a chat body holding U+FFFE, U+FFFF or a NUL would be stored
 * and then never enqueued (and emulators such as fauxqs also refuse everything above U+FFFF). JSON
 * with every character outside printable ASCII written as a `\uXXXX` escape is plain ASCII, which every
 * SQS accepts, and `JSON.parse` reads it back to the identical string. The cost is size: at most 6 bytes
 * per UTF-16 unit, so a 16 KiB body stays far under SQS's 256 KiB.
 */

const OUTSIDE_PRINTABLE_ASCII = /[^\x20-\x7e]/g;

const escapeUnit = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** JSON of `value` in printable ASCII only; `JSON.parse` returns an equal value. */
export function encodeQueueBody(value: unknown): string {
  return JSON.stringify(value).replace(OUTSIDE_PRINTABLE_ASCII, escapeUnit);
}
