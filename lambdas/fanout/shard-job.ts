/**
 * What a shard job is to its reader, the shard worker (./shard.ts): its body and its shard attribute, as
 * ./split.ts writes them. Apart from ./split.ts so the shard worker's bundle, which sends no jobs, carries
 * none of their packing.
 */
import { parseQueueBody, type QueueRecord } from '../../shared/queue-body';

/** The message attribute that names a job's shard (0 is the conversation's base partition). */
export const SHARD_ATTRIBUTE = 'shard';

/**
 * The records of a job's body: one record, or a JSON array of them (./split.ts packs a run so).
 * @returns the records, or why the body can never be read.
 */
export function parseJobBody(
  body: string,
): { ok: true; records: QueueRecord[] } | { ok: false; reason: string } {
  if (!body.startsWith('[')) {
    const parsed = parseQueueBody(body);
    return parsed.ok ? { ok: true, records: [parsed.record] } : parsed;
  }
  let items: unknown;
  try {
    items = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'body is not valid JSON' };
  }
  if (!Array.isArray(items) || items.length === 0) return { ok: false, reason: 'a job of no records' };
  const records: QueueRecord[] = [];
  for (const item of items) {
    const parsed = parseQueueBody(JSON.stringify(item));
    if (!parsed.ok) return parsed;
    records.push(parsed.record);
  }
  return { ok: true, records };
}
