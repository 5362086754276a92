/**
 * The `uploadUrl` and `downloadUrl` routes: a member gets a presigned S3 URL for one attachment of their
 * conversation. The function never touches the bytes: it checks membership (one consistent GetItem) and
 * signs, which is local computation. Keys are made here, under the conversation's prefix, so a key a
 * message names tells which conversation's members may read it.
 */
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { attachmentPrefix } from '../../shared/attachments';
import { LIMITS } from '../../shared/limits';
import type { DownloadUrlAck, DownloadUrlFrame, UploadUrlAck, UploadUrlFrame } from '../../shared/protocol';
import {
  type ActionHandler,
  type Caller,
  createActionHandler,
  type FunctionKitDeps,
  routeKitOf,
} from '../../shared/route-kit';
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

/**
 * Headers a presigned PUT is signed with: S3 then refuses an upload of another type or length
 * (SignatureDoesNotMatch), so the size and type asked for are the size and type stored.
 */
const SIGNED_UPLOAD_HEADERS = new Set(['content-type', 'content-length']);

const expiresAt = (deps: AttachmentDeps): string =>
  new Date(deps.now().getTime() + LIMITS.attachmentUrlTtlSeconds * 1000).toISOString();

/**
 * A presigned PUT for one new attachment of the caller's conversation.
 * @throws NotAMemberError when the caller is not a member; nothing is signed.
 */
export async function uploadUrl(
  deps: AttachmentDeps,
  frame: UploadUrlFrame,
  caller: Caller,
): Promise<UploadUrlAck> {
  await requireMember(deps.ddb, deps.tables, frame.conversationId, caller.userId, caller.signal);
  const key = `${attachmentPrefix(frame.conversationId)}${(deps.newKeyId ?? randomUUID)()}`;
  const url = await getSignedUrl(
    deps.s3,
    new PutObjectCommand({
      Bucket: deps.bucket,
      Key: key,
      ContentType: frame.contentType,
      ContentLength: frame.size,
    }),
    { expiresIn: LIMITS.attachmentUrlTtlSeconds, signableHeaders: SIGNED_UPLOAD_HEADERS },
  );
  return {
    url,
    key,
    method: 'PUT',
    headers: { 'content-type': frame.contentType, 'content-length': String(frame.size) },
    expiresAt: expiresAt(deps),
  };
}

/**
 * A presigned GET of an attachment of the caller's conversation (the schema already checked that the key
 * is under its prefix).
 * @throws NotAMemberError when the caller is not a member; nothing is signed.
 */
export async function downloadUrl(
  deps: AttachmentDeps,
  frame: DownloadUrlFrame,
  caller: Caller,
): Promise<DownloadUrlAck> {
  await requireMember(deps.ddb, deps.tables, frame.conversationId, caller.userId, caller.signal);
  const url = await getSignedUrl(deps.s3, new GetObjectCommand({ Bucket: deps.bucket, Key: frame.key }), {
    expiresIn: LIMITS.attachmentUrlTtlSeconds,
  });
  return { url, expiresAt: expiresAt(deps) };
}

/** Builds the Lambda handler of the attachment routes; `handler.ts` passes real clients. */
export function createAttachmentsHandler(deps: AttachmentDeps): ActionHandler {
  return createActionHandler(routeKitOf(deps), {
    uploadUrl: (frame, caller) => uploadUrl(deps, frame, caller),
    downloadUrl: (frame, caller) => downloadUrl(deps, frame, caller),
  });
}
