/**
 * Every read and write the functions make of the attachments bucket (the bytes themselves go between
 * the client and S3 through presigned requests). An upload lands under `uploads/`; `confirmUpload`
 * checks it and copies it under `conversations/`, where only this module writes, so an object there is
 * one whose size, type and first bytes were checked, with its uploader in its metadata.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  type Attachment,
  attachmentContentTypeSchema,
  confirmedKeyOf,
  hasMagicNumber,
  MAGIC_NUMBER_BYTES,
  UPLOADER_METADATA,
} from '../attachments';
import { AttachmentNotFoundError, AttachmentRejectedError, isAwsError } from '../errors';
import { LIMITS } from '../limits';

/** The bucket and the client that reaches it. */
export interface AttachmentBucket {
  s3: S3Client;
  bucket: string;
}

/** HeadObject; undefined when there is no such object. */
async function head(
  at: AttachmentBucket,
  key: string,
  signal: AbortSignal,
): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await at.s3.send(new HeadObjectCommand({ Bucket: at.bucket, Key: key }), { abortSignal: signal });
  } catch (err: unknown) {
    if (isAwsError(err, 'NotFound') || isAwsError(err, 'NoSuchKey')) return undefined;
    throw err;
  }
}

/** The attachment a verified object stands for, if `uploader` uploaded it. */
function attachmentOf(
  key: string,
  object: HeadObjectCommandOutput,
  uploader: string,
): Attachment | undefined {
  const type = attachmentContentTypeSchema.safeParse(object.ContentType);
  if (!type.success || object.Metadata?.[UPLOADER_METADATA] !== uploader) return undefined;
  return { key, contentType: type.data, size: object.ContentLength ?? 0 };
}

/** The object's first bytes (a ranged GET), read only if it is still the version `etag` names. */
async function firstBytes(
  at: AttachmentBucket,
  key: string,
  etag: string | undefined,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const { Body } = await at.s3.send(
    new GetObjectCommand({
      Bucket: at.bucket,
      Key: key,
      Range: `bytes=0-${MAGIC_NUMBER_BYTES - 1}`,
      IfMatch: etag,
    }),
    { abortSignal: signal },
  );
  return (await Body?.transformToByteArray()) ?? new Uint8Array();
}

/**
 * Deletes an object; a failure is only logged, since what it leaves is either under `uploads/` (the
 * lifecycle rule deletes it) or the object of a deleted message (see `deleteAttachment`).
 */
async function deleteQuietly(
  at: AttachmentBucket,
  key: string,
  logger: Pick<Logger, 'warn'>,
  signal: AbortSignal,
): Promise<boolean> {
  try {
    await at.s3.send(new DeleteObjectCommand({ Bucket: at.bucket, Key: key }), { abortSignal: signal });
    return true;
  } catch (err: unknown) {
    logger.warn('Could not delete an attachment object', {
      key,
      error: err instanceof Error ? err.message : err,
    });
    return false;
  }
}

/**
 * Checks the upload at `uploadKey` and makes it an attachment: HeadObject (it exists; a type members
 * may send; at most the size limit), a ranged GetObject of its first bytes (the type's magic number),
 * then CopyObject under `conversations/` with the checked type and the uploader, and DeleteObject of
 * the upload: four S3 requests. Both reads and the copy are pinned to the ETag the first one saw, so a
 * second POST to the same key (the policy allows one until it expires) cannot swap the bytes between
 * the check and the copy. A resend after success finds the upload gone and the copy made by this
 * uploader, and answers that (one HeadObject more).
 * @throws AttachmentNotFoundError when nothing was uploaded at the key.
 * @throws AttachmentRejectedError when the upload is not what it claims; it is deleted.
 */
export async function confirmUpload(
  at: AttachmentBucket,
  uploadKey: string,
  uploader: string,
  signal: AbortSignal,
  logger: Pick<Logger, 'warn'>,
): Promise<Attachment> {
  const key = confirmedKeyOf(uploadKey);
  const upload = await head(at, uploadKey, signal);
  if (upload === undefined) {
    const confirmed = await head(at, key, signal);
    const attachment = confirmed && attachmentOf(key, confirmed, uploader);
    if (attachment !== undefined) return attachment;
    throw new AttachmentNotFoundError(uploadKey, 'nothing was uploaded there, or it expired');
  }
  const type = attachmentContentTypeSchema.safeParse(upload.ContentType);
  const size = upload.ContentLength ?? 0;
  const reason = !type.success
    ? `its type ${String(upload.ContentType)} is not one members may send`
    : size < 1 || size > LIMITS.maxAttachmentBytes
      ? `its size ${size} is not between 1 and ${LIMITS.maxAttachmentBytes} bytes`
      : !hasMagicNumber(type.data, await firstBytes(at, uploadKey, upload.ETag, signal))
        ? `its first bytes are not those of ${type.data}`
        : undefined;
  if (reason !== undefined || !type.success) {
    await deleteQuietly(at, uploadKey, logger, signal);
    throw new AttachmentRejectedError(`The upload was refused and deleted: ${reason}`);
  }
  await at.s3.send(
    new CopyObjectCommand({
      Bucket: at.bucket,
      Key: key,
      CopySource: `${at.bucket}/${uploadKey}`,
      CopySourceIfMatch: upload.ETag,
      MetadataDirective: 'REPLACE',
      ContentType: type.data,
      ContentDisposition: 'attachment',
      Metadata: { [UPLOADER_METADATA]: uploader },
    }),
    { abortSignal: signal },
  );
  await deleteQuietly(at, uploadKey, logger, signal);
  return { key, contentType: type.data, size };
}

/**
 * Checks that a message may name `attachment`: one HeadObject, which must find a confirmed object of
 * exactly that size and type, uploaded by `sender`.
 * @throws AttachmentNotFoundError when there is no confirmed object at the key.
 * @throws AttachmentRejectedError when its size, type or uploader differ.
 */
export async function checkReference(
  at: AttachmentBucket,
  attachment: Attachment,
  sender: string,
  signal: AbortSignal,
): Promise<void> {
  const object = await head(at, attachment.key, signal);
  if (object === undefined) {
    throw new AttachmentNotFoundError(attachment.key, 'confirm the upload (confirmUpload) before sending it');
  }
  const found = attachmentOf(attachment.key, object, sender);
  if (found === undefined) throw new AttachmentRejectedError('The attachment was uploaded by another member');
  if (found.size !== attachment.size || found.contentType !== attachment.contentType) {
    throw new AttachmentRejectedError(
      `The attachment is ${found.contentType} of ${found.size} bytes, not ${attachment.contentType} of ${attachment.size}`,
    );
  }
}

/** What `downloadUrl` signs: the verified type of the object, or undefined when there is none. */
export async function verifiedType(
  at: AttachmentBucket,
  key: string,
  signal: AbortSignal,
): Promise<Attachment['contentType'] | undefined> {
  const object = await head(at, key, signal);
  const type = attachmentContentTypeSchema.safeParse(object?.ContentType);
  return object !== undefined && type.success ? type.data : undefined;
}

/**
 * Deletes a deleted message's object (one DeleteObject). A failure is logged and answered false, not
 * thrown: the message is already deleted and its reference gone, so the user's delete stands.
 */
export const deleteAttachment = (
  at: AttachmentBucket,
  key: string,
  logger: Pick<Logger, 'warn'>,
  signal: AbortSignal,
): Promise<boolean> => deleteQuietly(at, key, logger, signal);
