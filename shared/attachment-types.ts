/**
 * The content types a member may upload, as plain data with no schema library, so the web page can offer
 * exactly what the server accepts without bundling the server's validation (shared/attachments.ts).
 */

/** Content types a member may upload: images the web page shows inline, and PDF. */
export const ATTACHMENT_CONTENT_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
] as const;
export type AttachmentContentType = (typeof ATTACHMENT_CONTENT_TYPES)[number];
