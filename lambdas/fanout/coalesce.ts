/**
 * Coalescing: the pushes of one conversation that the fan-out has at hand at once (several records of its
 * FIFO message group in one batch) go to each connection in as few posts as the bill allows. API Gateway
 * bills a post by 32 KB units and refuses one over 128 KB, so a run of small pushes is packed into `batch`
 * frames of up to one unit each, and a push bigger than a unit carries small neighbours in the padding of
 * the units it is billed anyway.
 */
import type { BatchFrame, SequencedFrame } from '../../shared/protocol';

export interface CoalesceLimits {
  /** The billing unit: a batch stays within it unless a push inside is bigger. @default 32 KiB */
  targetBytes: number;
  /** No post is larger, except a single push that is larger by itself. @default 128 KiB */
  maxBytes: number;
}

/** API Gateway bills messages in 32 KB increments and refuses one over 128 KB. */
export const DEFAULT_COALESCE_LIMITS: CoalesceLimits = { targetBytes: 32 * 1024, maxBytes: 128 * 1024 };

const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** A run of pushes that will be posted as one: their JSON texts and the post's size in bytes. */
interface Post {
  texts: string[];
  bytes: number;
}

/**
 * Splits a run of pushes of one conversation into the posts a connection gets, in seq order: one push
 * alone goes as itself; several go as `batch` frames. Concurrent sends may reach the queue out of seq
 * order, so the run is sorted by seq first; the sort is stable, so an edit or delete stays after the
 * message it changes. A push joins the post before it when the post stays
 * within `targetBytes`, or when it costs no more billed units than the bigger of the two did alone (it
 * rides in padding already paid for), and never past `maxBytes`. Sizes are UTF-8 bytes of the JSON text.
 * @returns the texts to post, in order; empty for no pushes.
 * @throws Error when the pushes belong to more than one conversation (a batch names one).
 */
export function coalesce(
  frames: readonly SequencedFrame[],
  limits: CoalesceLimits = DEFAULT_COALESCE_LIMITS,
): string[] {
  const first = frames[0];
  if (first === undefined) return [];
  const { conversationId } = first;
  if (frames.some((frame) => frame.conversationId !== conversationId)) {
    throw new Error('coalesce takes the pushes of one conversation');
  }
  // A batch's text is this envelope with its frames' texts, comma-separated, between the brackets.
  const envelope = JSON.stringify({ type: 'batch', conversationId, frames: [] } satisfies BatchFrame);
  const [head, tail] = [envelope.slice(0, -2), envelope.slice(-2)];
  const envelopeBytes = utf8Bytes(envelope);
  const units = (bytes: number): number => Math.ceil(bytes / limits.targetBytes);
  const posts: Post[] = [];
  for (const frame of [...frames].sort((a, b) => a.seq - b.seq)) {
    const text = JSON.stringify(frame);
    const bytes = utf8Bytes(text);
    const last = posts.at(-1);
    if (last !== undefined) {
      // A comma between frames, and the envelope once a lone push becomes a batch.
      const joined = last.bytes + 1 + bytes + (last.texts.length === 1 ? envelopeBytes : 0);
      const free = units(joined) <= Math.max(units(last.bytes), units(bytes));
      if (joined <= limits.maxBytes && (joined <= limits.targetBytes || free)) {
        last.texts.push(text);
        last.bytes = joined;
        continue;
      }
    }
    posts.push({ texts: [text], bytes });
  }
  return posts.map(({ texts }) =>
    texts.length === 1 ? (texts[0] ?? '') : `${head}${texts.join(',')}${tail}`,
  );
}
