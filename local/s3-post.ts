/**
 * Presigned POST uploads for the local S3. fauxqs has no POST object (a POST to a bucket is its
 * DeleteObjects), so local/s3-cors.ts hands every multipart form POST here: the form's policy is held
 * to what S3 holds it to (expiry, every condition, no field the policy does not name, the file's length
 * range), and an upload that passes is stored with a PUT of the form's key and Content-Type. What is not
 * checked is the signature: fauxqs checks none, so locally the policy is trusted as it came (the
 * deployed bucket checks it; docs/security.md, Attachments).
 */
import type { IncomingMessage } from 'node:http';
import { LIMITS } from '../shared/limits';

/** What S3 answers a refused form with. */
export interface PostRefusal {
  status: number;
  code: string;
  message: string;
}

/** A form that passed its policy: what to store, and where. */
export interface PostUpload {
  key: string;
  contentType: string;
  file: Uint8Array;
}

/** Form fields S3 takes without a policy condition: the policy and signature themselves, and the file. */
const UNCONDITIONED = new Set(['policy', 'x-amz-signature', 'file']);

/** The most a form may weigh: the largest attachment, plus its fields and multipart boundaries. */
const MAX_FORM_BYTES = LIMITS.maxAttachmentBytes + 64 * 1024;

const refusal = (status: number, code: string, message: string): PostRefusal => ({ status, code, message });

const invalid = (message: string): PostRefusal =>
  refusal(403, 'AccessDenied', `Invalid according to Policy: ${message}`);

/** True for the request S3 takes as a POST object upload: a multipart form. */
export const isFormUpload = (req: IncomingMessage): boolean =>
  req.method === 'POST' && (req.headers['content-type'] ?? '').startsWith('multipart/form-data');

/** Reads the whole form, or answers how it is refused (too large to be any upload). */
async function readForm(req: IncomingMessage): Promise<FormData | PostRefusal> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_FORM_BYTES) {
      req.resume();
      return refusal(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
    }
    chunks.push(chunk);
  }
  try {
    const headers = { 'content-type': req.headers['content-type'] ?? '' };
    return await new Response(Buffer.concat(chunks), { headers }).formData();
  } catch {
    return refusal(
      400,
      'MalformedPOSTRequest',
      'The body of your POST request is not well-formed multipart/form-data.',
    );
  }
}

/** One policy condition against the form: undefined when it holds, else why not. */
function conditionFails(
  condition: unknown,
  fields: Map<string, string>,
  fileSize: number,
): string | undefined {
  if (Array.isArray(condition) && condition[0] === 'content-length-range') {
    const [, min, max] = condition as [string, number, number];
    return fileSize >= min && fileSize <= max
      ? undefined
      : `content-length ${fileSize} is not in [${min}, ${max}]`;
  }
  const [op, name, value] = Array.isArray(condition)
    ? (condition as [string, string, string])
    : ['eq', `$${Object.keys(condition as object)[0]}`, Object.values(condition as object)[0] as string];
  const field = name.replace(/^\$/, '').toLowerCase();
  const actual = fields.get(field) ?? '';
  const holds = op === 'eq' ? actual === value : op === 'starts-with' ? actual.startsWith(value) : false;
  return holds ? undefined : `Policy Condition failed: ["${op}", "$${field}", "${value}"]`;
}

/**
 * Holds a POST form to its policy as S3 does, except for the signature: the policy must not have
 * expired, every condition must hold (`bucket` against the bucket posted to), every field but the
 * policy, the signature and the file must be named by a condition, and the file's length must be in the
 * policy's content-length-range.
 */
export function checkPostPolicy(
  form: FormData,
  bucket: string,
  now: Date,
): Omit<PostUpload, 'file'> | PostRefusal {
  const fields = new Map<string, string>([['bucket', bucket]]);
  let file: Blob | undefined;
  for (const [name, value] of form.entries()) {
    if (name.toLowerCase() === 'file') file = typeof value === 'string' ? new Blob([value]) : value;
    else if (typeof value === 'string') fields.set(name.toLowerCase(), value);
  }
  const policyField = fields.get('policy');
  const key = fields.get('key');
  if (policyField === undefined || key === undefined || file === undefined) {
    return refusal(400, 'InvalidArgument', 'A POST upload needs the policy, key and file fields');
  }
  let policy: { expiration?: string; conditions?: unknown[] };
  try {
    policy = JSON.parse(Buffer.from(policyField, 'base64').toString('utf8'));
  } catch {
    return refusal(400, 'InvalidPolicyDocument', 'Invalid Policy: Invalid JSON.');
  }
  if (policy.expiration === undefined || !(Date.parse(policy.expiration) > now.getTime())) {
    return invalid('Policy expired.');
  }
  const conditions = policy.conditions ?? [];
  const named = new Set(
    conditions.flatMap((c) =>
      Array.isArray(c)
        ? [String(c[1]).replace(/^\$/, '').toLowerCase()]
        : Object.keys(c as object).map((k) => k.toLowerCase()),
    ),
  );
  const extra = [...fields.keys()].filter(
    (name) => name !== 'bucket' && !UNCONDITIONED.has(name) && !named.has(name),
  );
  if (extra.length > 0) return invalid(`Extra input fields: ${extra.join(', ')}`);
  for (const condition of conditions) {
    const failed = conditionFails(condition, fields, file.size);
    if (failed !== undefined) return invalid(failed);
  }
  return { key, contentType: fields.get('content-type') ?? 'binary/octet-stream' };
}

/**
 * Reads a form upload and checks its policy: the upload to store (its file's bytes read), or how S3
 * would refuse it.
 */
export async function readFormUpload(
  req: IncomingMessage,
  bucket: string,
  now: Date,
): Promise<PostUpload | PostRefusal> {
  const form = await readForm(req);
  if (!(form instanceof FormData)) return form;
  const checked = checkPostPolicy(form, bucket, now);
  if ('status' in checked) return checked;
  const file = form.get('file');
  const bytes =
    file instanceof Blob ? new Uint8Array(await file.arrayBuffer()) : new TextEncoder().encode(String(file));
  return { ...checked, file: bytes };
}
