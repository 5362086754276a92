/** The field schemas that several frames share: ids, seqs and the requestId every frame may carry. */
import * as z from './zod';

export const conversationIdSchema = z
  .string()
  .check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -'));
/**
 * Characters that make one id look like another or hide part of it: controls (Cc), format characters
 * (Cf: zero-width joiners and spaces, bidi overrides and isolates, the BOM), separators (Z*, so no
 * spaces of any script), and unassigned, private-use or surrogate code points. `alice\u200b` and
 * `alice` would otherwise be two users who look the same.
 */
const INVISIBLE_OR_LOOKALIKE = /[\p{Cc}\p{Cf}\p{Z}\p{Cn}\p{Co}\p{Cs}#]/u;

/** True when `value` has no lone surrogate, so it survives UTF-8 (DynamoDB, SQS, the wire) unchanged. */
export const isWellFormedUnicode = (value: string): boolean => value.isWellFormed();

export const userIdSchema = z.string().check(
  z.minLength(1),
  z.maxLength(128),
  z.refine(isWellFormedUnicode, 'must be well-formed Unicode'),
  z.refine((id) => !INVISIBLE_OR_LOOKALIKE.test(id), {
    message: 'must not contain spaces, #, control, zero-width, bidi or other invisible characters',
  }),
  z.refine((id) => id.normalize('NFC') === id, 'must be in Unicode normalization form C (NFC)'),
);
export const clientMessageIdSchema = z
  .string()
  .check(z.regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . : -'));
export const requestIdSchema = z.optional(z.string().check(z.minLength(1), z.maxLength(64)));
export const seqSchema = z.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER));
