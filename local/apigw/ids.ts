/**
 * Identifiers shaped like API Gateway's: connection, request and message ids are 16 characters ending
 * in `=` (for example `L0SM9cOFvHcCIhw=`). Only letters and digits precede the `=`, so an id never
 * needs more than `=` escaped in a management API path.
 */
import { randomInt } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ID_LENGTH = 15;

/** A fresh random id in API Gateway's shape. */
export function newAwsId(): string {
  let id = '';
  for (let i = 0; i < ID_LENGTH; i++) id += ALPHABET[randomInt(ALPHABET.length)];
  return `${id}=`;
}

/** An `X-Amzn-Trace-Id` header value in the X-Ray format API Gateway adds to `$connect` requests. */
export function newTraceId(now: number): string {
  const hex = (length: number) => Array.from({ length }, () => randomInt(16).toString(16)).join('');
  return `Root=1-${Math.floor(now / 1000).toString(16)}-${hex(24)}`;
}
