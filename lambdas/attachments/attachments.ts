/**
 * The `uploadUrl`, `confirmUpload` and `downloadUrl` routes. A member gets a presigned POST for one
 * upload, confirms it (the server checks what arrived and makes it an attachment a message may name),
 * and gets presigned GETs of the conversation's attachments. Each route first checks membership (one
 * consistent GetItem); signing is local computation, and only confirmUpload and downloadUrl read the
 * bucket (shared/store/attachments.ts). Keys are made here, under the conversation's prefix, so a key a
 * message names tells which conversation's members may read it.
 */
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ATTACHMENT_EXTENSIONS, isImageType, uploadPrefix } from '../../shared/attachments';
import { AttachmentNotFoundError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import type {
  ConfirmUploadAck,
  ConfirmUploadFrame,
  DownloadUrlAck,
  DownloadUrlFrame,
  UploadUrlAck,
  UploadUrlFrame,
} from '../../shared/protocol';
import {
  type ActionHandler,
  type Caller,
  createActionHandler,
  type FunctionKitDeps,
  routeKitOf,
} from '../../shared/route-kit';
import { confirmUpload as confirmStoredUpload, verifiedType } from '../../shared/store/attachments';
import { requireMember } from '../../shared/store/conversations';
import type { TableNames } from '../../shared/tables';

/** The attachment routes' clients and names, and what the route kit runs with (its `now` dates the URLs). */
export interface AttachmentDeps extends FunctionKitDeps {
  ddb: DynamoDBDocumentClient;
  s3: S3Client;
  tables: Pick<TableNames, 'conversations'>;
  bucket: string;
  /** Makes the last part of a new key. @default crypto.randomUUID */
  newKeyId?: () => string;
}

const expiresAt = (deps: AttachmentDeps): string =>
  new Date(deps.now().getTime() + LIMITS.attachmentUrlTtlSeconds * 1000).toISOString();

/**
 * A presigned POST for one new upload of the caller's conversation. Its policy holds S3 to this exact
 * key, this exact Content-Type and exactly `size` bytes, and allows no other field: S3 refuses any other
 * upload with the form, so headers such as Content-Disposition or Content-Encoding cannot ride along.
 * @throws NotAMemberError when the caller is not a member; nothing is signed.
 */
export async function uploadUrl(
  deps: AttachmentDeps,
  frame: UploadUrlFrame,
  caller: Caller,
): Promise<UploadUrlAck> {
  await requireMember(deps.ddb, deps.tables, frame.conversationId, caller.userId, caller.signal);
  const key = `${uploadPrefix(frame.conversationId)}${(deps.newKeyId ?? randomUUID)()}`;
  const { url, fields } = await createPresignedPost(deps.s3, {
    Bucket: deps.bucket,
    Key: key,
    Fields: { 'Content-Type': frame.contentType },
    Conditions: [
      ['eq', '$Content-Type', frame.contentType],
      ['content-length-range', frame.size, frame.size],
    ],
    Expires: LIMITS.attachmentUrlTtlSeconds,
  });
  return { url, key, method: 'POST', fields, expiresAt: expiresAt(deps) };
}

/**
 * Checks the caller's upload and makes it an attachment under `conversations/` (see
 * shared/store/attachments.ts: four S3 requests), which a message may then carry.
 * @throws NotAMemberError when the caller is not a member; the bucket is not read.
 * @throws AttachmentNotFoundError when nothing was uploaded at the key.
 * @throws AttachmentRejectedError when the upload is not what it claims; it is deleted.
 */
export async function confirmUpload(
  deps: AttachmentDeps,
  frame: ConfirmUploadFrame,
  caller: Caller,
): Promise<ConfirmUploadAck> {
  await requireMember(deps.ddb, deps.tables, frame.conversationId, caller.userId, caller.signal);
  const attachment = await confirmStoredUpload(deps, frame.key, caller.userId, caller.signal, deps.logger);
  return { attachment };
}

/**
 * A presigned GET of an attachment of the caller's conversation (the schema already checked that the key
 * is under its prefix). One HeadObject reads the type confirmUpload stored, which the URL signs as
 * `response-content-type`, with `response-content-disposition` `inline` for images (their first bytes
 * were checked) and `attachment` for anything else, so a browser never renders a file as a page.
 * @throws NotAMemberError when the caller is not a member; nothing is signed.
 * @throws AttachmentNotFoundError when the object is gone (its message was deleted) or was never confirmed.
 */
export async function downloadUrl(
  deps: AttachmentDeps,
  frame: DownloadUrlFrame,
  caller: Caller,
): Promise<DownloadUrlAck> {
  await requireMember(deps.ddb, deps.tables, frame.conversationId, caller.userId, caller.signal);
  const contentType = await verifiedType(deps, frame.key, caller.signal);
  if (contentType === undefined)
    throw new AttachmentNotFoundError(frame.key, 'it was deleted with its message');
  const disposition = isImageType(contentType) ? 'inline' : 'attachment';
  const filename = `${frame.key.slice(frame.key.lastIndexOf('/') + 1)}.${ATTACHMENT_EXTENSIONS[contentType]}`;
  const url = await getSignedUrl(
    deps.s3,
    new GetObjectCommand({
      Bucket: deps.bucket,
      Key: frame.key,
      ResponseContentType: contentType,
      ResponseContentDisposition: `${disposition}; filename="${filename}"`,
    }),
    { expiresIn: LIMITS.attachmentUrlTtlSeconds },
  );
  return { url, expiresAt: expiresAt(deps), contentType, disposition };
}

/** Builds the Lambda handler of the attachment routes; `handler.ts` passes real clients. */
export function createAttachmentsHandler(deps: AttachmentDeps): ActionHandler {
  return createActionHandler(routeKitOf(deps), {
    uploadUrl: (frame, caller) => uploadUrl(deps, frame, caller),
    confirmUpload: (frame, caller) => confirmUpload(deps, frame, caller),
    downloadUrl: (frame, caller) => downloadUrl(deps, frame, caller),
  });
}
