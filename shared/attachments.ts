/**
 * Attachments as the wire protocol and the stores see them. A member uploads a file through a presigned
 * POST under `uploads/` (unreferenced: a lifecycle rule expires it), `confirmUpload` checks what arrived
 * and copies it under `conversations/` (where no client can write), and a message then names that key.
 * Keys are made by the server, one prefix per conversation, so a key tells which conversation's members
 * may read it.
 */

import { ATTACHMENT_CONTENT_TYPES, type AttachmentContentType } from './attachment-types';
import { LIMITS } from './limits';
import * as z from './protocol/zod';

export { ATTACHMENT_CONTENT_TYPES, type AttachmentContentType } from './attachment-types';

/** The file name extension of each type, for the name a download is saved under. */
export const ATTACHMENT_EXTENSIONS: Record<AttachmentContentType, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'application/pdf': 'pdf',
};

/** The top folder of every verified attachment, the only one a message may name. */
export const ATTACHMENTS_ROOT = 'conversations/';

/**
 * The top folder of uploads nobody has confirmed yet: the only keys a presigned POST lets a client write,
 * and the prefix of the bucket's lifecycle rule that deletes what stays unconfirmed.
 */
export const UPLOADS_ROOT = 'uploads/';

/** Days an unconfirmed upload is kept before the lifecycle rule deletes it. */
export const UNCONFIRMED_UPLOAD_DAYS = 1;

/** Images the web page may show inline: their first bytes were checked against the type's magic number. */
export const isImageType = (contentType: string): boolean => contentType.startsWith('image/');

/** How many first bytes `hasMagicNumber` needs (a ranged GET reads no more). */
export const MAGIC_NUMBER_BYTES = 12;

const MAGIC_NUMBERS: Record<AttachmentContentType, (bytes: Uint8Array) => boolean> = {
  'image/png': (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  'image/jpeg': (b) => startsWith(b, [0xff, 0xd8, 0xff]),
  'image/gif': (b) =>
    startsWith(b, [0x47, 0x49, 0x46, 0x38]) && (b[4] === 0x37 || b[4] === 0x39) && b[5] === 0x61,
  // RIFF, 4 bytes of length, WEBP.
  'image/webp': (b) =>
    startsWith(b, [0x52, 0x49, 0x46, 0x46]) && startsWith(b.subarray(8), [0x57, 0x45, 0x42, 0x50]),
  'application/pdf': (b) => startsWith(b, [0x25, 0x50, 0x44, 0x46, 0x2d]),
};

const startsWith = (bytes: Uint8Array, prefix: readonly number[]): boolean =>
  prefix.every((byte, i) => bytes[i] === byte);

/**
 * True when the file's first bytes are those every file of `contentType` starts with, so a browser
 * that sniffs it finds the type it was told (an HTML page sent as image/png does not pass).
 */
export const hasMagicNumber = (contentType: AttachmentContentType, firstBytes: Uint8Array): boolean =>
  MAGIC_NUMBERS[contentType](firstBytes);

/**
 * The attachments bucket's CORS rule, origins aside (the stack's `allowedOrigins`, every origin by
 * default): lib/attachments-bucket.ts gives it to the deployed bucket and local/s3-cors.ts answers
 * with it in front of fauxqs, so a page may do locally exactly what it may do on AWS.
 */
export const ATTACHMENTS_CORS = {
  // POST uploads (a form: no preflight); GET downloads.
  allowedMethods: ['POST', 'GET'],
  allowedHeaders: ['content-type', 'content-length'],
  exposedHeaders: [],
  maxAgeSeconds: LIMITS.attachmentUrlTtlSeconds,
} as const satisfies {
  allowedMethods: readonly ('POST' | 'GET')[];
  allowedHeaders: readonly string[];
  exposedHeaders: readonly string[];
  maxAgeSeconds: number;
};

/** Where one conversation's attachments live: `conversations/<conversationId>/`. */
export const attachmentPrefix = (conversationId: string): string => `${ATTACHMENTS_ROOT}${conversationId}/`;

/** Where one conversation's unconfirmed uploads go: `uploads/<conversationId>/`. */
export const uploadPrefix = (conversationId: string): string => `${UPLOADS_ROOT}${conversationId}/`;

/** The key a confirmed upload is copied to: the same conversation and id, under `conversations/`. */
export const confirmedKeyOf = (uploadKey: string): string =>
  `${ATTACHMENTS_ROOT}${uploadKey.slice(UPLOADS_ROOT.length)}`;

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const CONVERSATION = '[A-Za-z0-9_-]{1,64}';

/** A key the server made: `conversations/<conversationId>/<uuid>`. */
const ATTACHMENT_KEY = new RegExp(`^conversations/${CONVERSATION}/${UUID}$`);
/** An upload key the server made: `uploads/<conversationId>/<uuid>`. */
const UPLOAD_KEY = new RegExp(`^uploads/${CONVERSATION}/${UUID}$`);

export const attachmentKeySchema = z
  .string()
  .check(
    z.regex(
      ATTACHMENT_KEY,
      'must be a key returned by confirmUpload (conversations/<conversationId>/<uuid>)',
    ),
  );

export const uploadKeySchema = z
  .string()
  .check(z.regex(UPLOAD_KEY, 'must be a key returned by uploadUrl (uploads/<conversationId>/<uuid>)'));

export const attachmentContentTypeSchema = z.enum(ATTACHMENT_CONTENT_TYPES, {
  error: `must be one of ${ATTACHMENT_CONTENT_TYPES.join(', ')}`,
});

export const attachmentSizeSchema = z.number().check(
  z.int(),
  z.minimum(1),
  z.refine((size) => size <= LIMITS.maxAttachmentBytes, {
    message: `must be at most ${LIMITS.maxAttachmentBytes} bytes`,
    params: { payloadTooLargeLimit: LIMITS.maxAttachmentBytes },
  }),
);

/** What a message says about its attachment: the key it was uploaded under, its type and size. */
export const attachmentSchema = z.strictObject({
  key: attachmentKeySchema,
  contentType: attachmentContentTypeSchema,
  size: attachmentSizeSchema,
});
export type Attachment = z.infer<typeof attachmentSchema>;

/** True when `key` is under the conversation's prefix, so only its members can have been given it. */
export const isKeyOf = (conversationId: string, key: string): boolean =>
  key.startsWith(attachmentPrefix(conversationId));

/** True when the upload `key` is under the conversation's upload prefix. */
export const isUploadKeyOf = (conversationId: string, key: string): boolean =>
  key.startsWith(uploadPrefix(conversationId));

/**
 * The object metadata (`x-amz-meta-uploader`) confirmUpload gives a verified attachment: the user who
 * uploaded it, the only one whose message may name it.
 */
export const UPLOADER_METADATA = 'uploader';
