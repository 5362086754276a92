import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../shared/limits';
import type { ChatMessage } from '../../shared/protocol';
import { encodeQueueBody } from '../../shared/queue-body';

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** SQS refuses a message body above 256 KiB. */
const SQS_MAX_BODY_BYTES = 256 * 1024;

const message = (body: string): ChatMessage => ({
  conversationId: 'conv-1',
  seq: 7,
  senderId: 'Zoë',
  body,
  sentAt: '2030-01-02T03:04:05.000Z',
});

const CORPUS: [string, string][] = [
  ['an emoji with a skin tone and ZWJ', '👩🏽‍💻'],
  ['a ZWJ family emoji', '👨‍👩‍👧‍👦'],
  ['a flag', '🇯🇵'],
  ['CJK', '李雷 ユーザー 안녕하세요'],
  ['RTL text with a bidi override', 'שלום مرحبا \u202eevil'],
  ['combining marks', 'e\u0301 a\u0308 Z\u0351\u0360\u0361'],
  ['a NUL', 'before\u0000after'],
  ['the noncharacters U+FFFE and U+FFFF', 'a\ufffeb\uffffc'],
  ['a line separator (U+2028)', 'line\u2028line'],
  ['DEL and other controls', '\u007f\u0007\t\r\n'],
  ['characters JSON escapes itself', 'quote " backslash \\ slash /'],
  ['a 4-byte character above U+FFFF', '𝄞'],
];

describe('encodeQueueBody', () => {
  it.each(CORPUS)('writes a message holding %s in printable ASCII only', (_case, body) => {
    // Act
    const encoded = encodeQueueBody(message(body));

    // Assess
    expect(encoded).toMatch(PRINTABLE_ASCII);
  });

  it.each(CORPUS)('reads a message holding %s back unchanged with JSON.parse', (_case, body) => {
    // Prepare
    const original = message(body);

    // Act
    const decoded: unknown = JSON.parse(encodeQueueBody(original));

    // Assess
    expect(decoded).toEqual(original);
    expect((decoded as ChatMessage).body).toBe(body);
  });

  it('reads the whole corpus back unchanged when it is one body', () => {
    // Prepare
    const original = message(CORPUS.map(([, body]) => body).join(''));

    // Act
    const encoded = encodeQueueBody(original);

    // Assess
    expect(encoded).toMatch(PRINTABLE_ASCII);
    expect(JSON.parse(encoded)).toEqual(original);
  });

  it('keeps the largest body of the most escaped character under the SQS message size', () => {
    // Prepare: a NUL is 1 byte of UTF-8 in the body and 6 bytes escaped, the worst ratio.
    const original = message('\u0000'.repeat(LIMITS.maxBodyBytes));

    // Act
    const encoded = encodeQueueBody(original);

    // Assess
    expect(Buffer.byteLength(encoded, 'utf8')).toBeLessThan(SQS_MAX_BODY_BYTES);
    expect(JSON.parse(encoded)).toEqual(original);
  });
});
