import { describe, expect, it } from 'vitest';
import { coalesce } from '../../lambdas/fanout/coalesce';
import type { BatchFrame, SequencedFrame } from '../../shared/protocol';

const KIB = 1024;
const bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

function message(seq: number, body: string, conversationId = 'c-1'): SequencedFrame {
  return {
    type: 'message',
    conversationId,
    seq,
    senderId: 'alice',
    body,
    sentAt: '2026-12-07T19:00:00.000Z',
  };
}

/** A message whose JSON text is exactly `size` bytes. */
function messageOfSize(seq: number, size: number): SequencedFrame {
  const base = bytes(JSON.stringify(message(seq, '')));
  return message(seq, 'x'.repeat(size - base));
}

/** What a connection that unpacks every post gets, in order. */
function unpacked(posts: string[]): SequencedFrame[] {
  return posts.flatMap((post) => {
    const frame = JSON.parse(post) as SequencedFrame | BatchFrame;
    return frame.type === 'batch' ? frame.frames : [frame];
  });
}

describe('coalesce', () => {
  it('posts nothing for no pushes', () => {
    expect(coalesce([])).toEqual([]);
  });

  it('posts a single push as itself, without a batch around it', () => {
    // Prepare
    const frame = message(1, 'hello');

    // Act
    const posts = coalesce([frame]);

    // Assess
    expect(posts).toEqual([JSON.stringify(frame)]);
  });

  it('posts a single push near the 128 KB limit as itself', () => {
    // Prepare
    const frame = messageOfSize(1, 128 * KIB - 10);

    // Act
    const posts = coalesce([frame]);

    // Assess
    expect(posts).toHaveLength(1);
    expect(bytes(posts[0] ?? '')).toBe(128 * KIB - 10);
    expect(JSON.parse(posts[0] ?? '')).toEqual(frame);
  });

  it('packs a run of small pushes of every kind into one batch frame, in order', () => {
    // Prepare
    const frames: SequencedFrame[] = [
      message(1, 'one'),
      { type: 'edited', conversationId: 'c-1', seq: 1, body: 'uno', editedAt: 'e', version: 2 },
      message(2, 'two'),
      { type: 'deleted', conversationId: 'c-1', seq: 2, deletedAt: 'd', version: 2 },
      {
        type: 'membership',
        conversationId: 'c-1',
        seq: 3,
        event: 'member_added',
        userIds: ['bob'],
        by: 'alice',
        at: 'a',
      },
    ];

    // Act
    const posts = coalesce(frames);

    // Assess
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0] ?? '')).toEqual({ type: 'batch', conversationId: 'c-1', frames });
  });

  it('splits a long run into batches of at most 32 KiB each, as few as fit', () => {
    // Prepare: 100 pushes of 1 KiB, 100 KiB in all: four 32 KiB units at the least.
    const frames = Array.from({ length: 100 }, (_, i) => messageOfSize(i + 1, KIB));

    // Act
    const posts = coalesce(frames);

    // Assess
    expect(posts).toHaveLength(4);
    for (const post of posts) expect(bytes(post)).toBeLessThanOrEqual(32 * KIB);
    expect(unpacked(posts)).toEqual(frames);
  });

  it('counts UTF-8 bytes, so emoji and other multibyte bodies never push a batch past 32 KiB', () => {
    // Prepare: 3,000 emoji are 6,000 UTF-16 units but 12,000 bytes; three such pushes fit 32 KiB only by length.
    const bodies = ['😀'.repeat(3_000), '👩‍👩‍👧'.repeat(450), 'ש'.repeat(4_000) + '漢'.repeat(1_500)];
    const frames = bodies.map((body, i) => message(i + 1, body));
    expect(frames.reduce((sum, frame) => sum + JSON.stringify(frame).length, 0)).toBeLessThan(32 * KIB);

    // Act
    const posts = coalesce(frames);

    // Assess
    expect(posts.length).toBeGreaterThan(1);
    for (const post of posts) expect(bytes(post)).toBeLessThanOrEqual(32 * KIB);
    expect(unpacked(posts)).toEqual(frames);
  });

  it('carries small pushes in the padding of a push bigger than 32 KiB, where they cost no more units', () => {
    // Prepare: 50 KiB is billed as two units either way; 1 KiB beside it rides free.
    const frames = [messageOfSize(1, KIB), messageOfSize(2, 50 * KIB), messageOfSize(3, KIB)];

    // Act
    const posts = coalesce(frames);

    // Assess
    expect(posts).toHaveLength(1);
    expect(bytes(posts[0] ?? '')).toBeLessThanOrEqual(64 * KIB);
    expect(unpacked(posts)).toEqual(frames);
  });

  it('keeps two pushes of 20 KiB apart rather than make one post over 32 KiB', () => {
    // Prepare
    const frames = [messageOfSize(1, 20 * KIB), messageOfSize(2, 20 * KIB)];

    // Act
    const posts = coalesce(frames);

    // Assess: two posts of one unit each, each the push itself.
    expect(posts.map((post) => JSON.parse(post))).toEqual(frames);
  });

  it('never makes a post over 128 KiB, even where it would cost no more units', () => {
    // Prepare: 100 KiB is billed as four units (128 KiB); 20 KiB more fits them, 10 KiB after that does not fit 128 KiB.
    const frames = [messageOfSize(1, 100 * KIB), messageOfSize(2, 20 * KIB), messageOfSize(3, 10 * KIB)];

    // Act
    const posts = coalesce(frames);

    // Assess
    expect(posts).toHaveLength(2);
    for (const post of posts) expect(bytes(post)).toBeLessThanOrEqual(128 * KIB);
    expect(unpacked(posts)).toEqual(frames);
  });

  it('keeps to maxBytes below what the billed units would hold', () => {
    // Prepare: 50 KiB and 13 KiB fit the two units the first is billed anyway, but not 60 KiB.
    const frames = [messageOfSize(1, 50 * KIB), messageOfSize(2, 13 * KIB)];

    // Act
    const posts = coalesce(frames, { targetBytes: 32 * KIB, maxBytes: 60 * KIB });

    // Assess
    expect(posts.map((post) => JSON.parse(post))).toEqual(frames);
  });

  it('takes its limits from the caller', () => {
    // Prepare
    const frames = Array.from({ length: 6 }, (_, i) => messageOfSize(i + 1, 200));

    // Act
    const posts = coalesce(frames, { targetBytes: 600, maxBytes: 1_000 });

    // Assess: an envelope and three 200-byte pushes pass 600 bytes, so two per batch.
    expect(posts.map((post) => (JSON.parse(post) as BatchFrame).frames.length)).toEqual([2, 2, 2]);
    for (const post of posts) expect(bytes(post)).toBeLessThanOrEqual(600);
  });

  it('puts the pushes in seq order, keeping an edit after the message it changes', () => {
    // Prepare: concurrent sends reached the queue as 3, 1, 2, and 1 was edited.
    const edit: SequencedFrame = {
      type: 'edited',
      conversationId: 'c-1',
      seq: 1,
      body: 'uno',
      editedAt: 'e',
      version: 2,
    };
    const frames = [message(3, 'three'), message(1, 'one'), edit, message(2, 'two')];

    // Act
    const posts = coalesce(frames);

    // Assess
    expect(unpacked(posts)).toEqual([message(1, 'one'), edit, message(2, 'two'), message(3, 'three')]);
  });

  it('refuses pushes of two conversations, since a batch names one', () => {
    expect(() => coalesce([message(1, 'a'), message(1, 'b', 'c-2')])).toThrow(/one conversation/);
  });
});
