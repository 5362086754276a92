/**
 * Attachments as the wire protocol and the stores see them: files a member uploads to the attachments
 * bucket through a presigned PUT, which a message then names by key. Keys are made by the server, one
 * prefix per conversation, so a key tells which conversation's members may read it.
 */
import { z } from 'zod';
import { LIMITS } from './limits';

/** Content types a member may upload: images the web page shows inline, and PDF. */
export const ATTACHMENT_CONTENT_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
] as const;
export type AttachmentContentType = (typeof ATTACHMENT_CONTENT_TYPES)[number];

/** The top folder of every attachment in the bucket; functions are granted this prefix only. */
export const ATTACHMENTS_ROOT = 'conversations/';

/**
 * The attachments bucket's CORS rule, origins aside (the stack's `allowedOrigins`, every origin by
 * default): lib/attachments-bucket.ts gives it to the deployed bucket and local/s3-cors.ts answers
 * with it in front of fauxqs, so a page may do locally exactly what it may do on AWS.
 */
export const ATTACHMENTS_CORS = {
  allowedMethods: ['PUT', 'GET'],
  allowedHeaders: ['content-type', 'content-length'],
  exposedHeaders: [],
  maxAgeSeconds: LIMITS.attachmentUrlTtlSeconds,
} as const satisfies {
  allowedMethods: readonly ('PUT' | 'GET')[];
  allowedHeaders: readonly string[];
  exposedHeaders: readonly string[];
  maxAgeSeconds: number;
};

/** Where one conversation's attachments live: `conversations/<conversationId>/`. */
export const attachmentPrefix = (conversationId: string): string => `${ATTACHMENTS_ROOT}${conversationId}/`;

/** A key the server made: `conversations/<conversationId>/<uuid>`. */
const ATTACHMENT_KEY =
  /^conversations\/[A-Za-z0-9_-]{1,64}\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const attachmentKeySchema = z
  .string()
  .regex(ATTACHMENT_KEY, 'must be a key returned by uploadUrl (conversations/<conversationId>/<uuid>)');

export const attachmentContentTypeSchema = z.enum(ATTACHMENT_CONTENT_TYPES, {
  error: `must be one of ${ATTACHMENT_CONTENT_TYPES.join(', ')}`,
});

export const attachmentSizeSchema = z
  .number()
  .int()
  .min(1)
  .refine((size) => size <= LIMITS.maxAttachmentBytes, {
    message: `must be at most ${LIMITS.maxAttachmentBytes} bytes`,
    params: { payloadTooLargeLimit: LIMITS.maxAttachmentBytes },
  });

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
