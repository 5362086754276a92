/**
 * Uploading an attachment: a presigned POST asked with `uploadUrl`, the file POSTed straight to the
 * bucket, then `confirmUpload`, where the server checks the stored file's size, type and first bytes.
 */
import type { Actions, Attachment, AttachmentContentType } from './types';
import { ChatRequestError } from './types';

/** What a message can carry: a browser File/Blob, or bytes. */
export type FileData = Blob | Uint8Array;

/** A file to send with a message (`send(id, body, { file })`). */
export interface FileToSend {
  data: FileData;
  contentType: AttachmentContentType;
  /** Shown while it uploads, and the message's body when none is given. */
  name?: string;
}

/** How an upload is POSTed (a multipart form). Any `fetch` fits. */
export type Fetch = (
  url: string,
  init: { method: string; body: FormData },
) => Promise<{ ok: boolean; status: number; text?: () => Promise<string> }>;

/** What an upload needs from the client. */
export interface UploadHost {
  request<A extends 'uploadUrl' | 'confirmUpload'>(
    action: A,
    fields: Actions[A]['fields'],
  ): Promise<Actions[A]['ack']>;
  fetch: Fetch;
}

/** The file's size in bytes. */
export function sizeOf(data: FileData): number {
  return data instanceof Uint8Array ? data.byteLength : data.size;
}

/**
 * Uploads `file` for `conversationId` and resolves with the confirmed attachment. Rejects with a
 * {@link ChatRequestError} whose message says, in words, why the file was not uploaded (`closed` is
 * passed on as it is: it says nothing about the file).
 */
export async function upload(
  host: UploadHost,
  conversationId: string,
  file: FileToSend,
): Promise<Attachment> {
  try {
    const { contentType, data } = file;
    const target = await host.request('uploadUrl', { conversationId, contentType, size: sizeOf(data) });
    const form = new FormData();
    for (const [name, value] of Object.entries(target.fields)) form.append(name, value);
    // S3 reads every field before the file, which must come last.
    // A copy, so the Blob holds a plain ArrayBuffer whatever buffer the caller's bytes live in.
    form.append(
      'file',
      data instanceof Uint8Array ? new Blob([new Uint8Array(data)], { type: contentType }) : data,
    );
    const response = await host.fetch(target.url, { method: target.method, body: form });
    // Read to its end: S3 answers nothing on success and an XML error otherwise, and a browser reports a
    // response left unread as an aborted request.
    const answer = (await response.text?.().catch(() => '')) ?? '';
    if (!response.ok) {
      const code = /<Code>([^<]{1,64})<\/Code>/.exec(answer)?.[1];
      throw new ChatRequestError(
        'internal_error',
        `the upload failed with HTTP ${response.status}${code === undefined ? '' : ` (${code})`}`,
      );
    }
    const { attachment } = await host.request('confirmUpload', { conversationId, key: target.key });
    return attachment;
  } catch (err: unknown) {
    if (err instanceof ChatRequestError && err.code === 'closed') throw err;
    const code = err instanceof ChatRequestError ? err.code : 'internal_error';
    const why = err instanceof Error ? err.message : String(err);
    throw new ChatRequestError(code, `${file.name ?? 'The file'} was not uploaded: ${why}`);
  }
}
