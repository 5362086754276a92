import { describe, expect, it } from 'vitest';
import { ChatError } from '../../shared/errors';
import { LIMITS } from '../../shared/limits';
import { createConversationFrameSchema, sendFrameSchema, userIdSchema } from '../../shared/protocol';
import { validate } from '../../shared/route-kit';

/** The error code `validate` answers for a frame, or 'ok' when the frame is valid. */
function codeOf(schema: Parameters<typeof validate>[0], frame: unknown): string {
  try {
    validate(schema, frame);
    return 'ok';
  } catch (err: unknown) {
    if (err instanceof ChatError) return err.code;
    throw err;
  }
}

const sendFrame = (body: string) => ({ action: 'send', conversationId: 'c1', clientMessageId: 'm1', body });

/** A 4-byte UTF-8 character (U+1D11E), two UTF-16 units. */
const CLEF = '𝄞';

describe('userIdSchema', () => {
  it.each([
    ['a plain ASCII name', 'alice'],
    ['a Latin letter with a precomposed diaeresis', 'Zoë'],
    ['Chinese', '李雷'],
    ['an email address', 'user@example.com'],
    ['Katakana with a prolonged sound mark', 'ユーザー'],
    ['the longest id, 128 characters', 'a'.repeat(128)],
  ])('accepts %s', (_case, userId) => {
    // Act
    const result = userIdSchema.safeParse(userId);

    // Assess
    expect(result.success).toBe(true);
  });

  it.each([
    ['an empty id', ''],
    ['an id over 128 characters', 'a'.repeat(129)],
    ['a NUL', 'ali\u0000ce'],
    ['a BEL control character', 'alice\u0007'],
    ['a DEL control character', 'alice\u007f'],
    ['a tab', 'ali\tce'],
    ['a zero-width space (U+200B)', 'alice\u200b'],
    ['a zero-width joiner (U+200D)', 'al\u200dice'],
    ['a byte order mark (U+FEFF)', '\ufeffalice'],
    ['a right-to-left override (U+202E)', 'alice\u202eevil'],
    ['a left-to-right isolate (U+2066)', '\u2066alice'],
    ['an ASCII space', 'ali ce'],
    ['a no-break space (U+00A0)', 'ali\u00a0ce'],
    ['an ideographic space (U+3000)', 'ali\u3000ce'],
    ['a line separator (U+2028)', 'ali\u2028ce'],
    ['a #', 'alice#1'],
    ['an unassigned code point (U+0378)', 'alice\u0378'],
    ['a private-use code point (U+E000)', 'alice\ue000'],
    ['a lone high surrogate', 'alice\ud800'],
    ['a lone low surrogate', '\udc00alice'],
    ['a decomposed e plus combining acute (not NFC)', 'e\u0301'],
  ])('refuses %s', (_case, userId) => {
    // Act
    const result = userIdSchema.safeParse(userId);

    // Assess
    expect(result.success).toBe(false);
  });

  it('refuses a member id with an invisible character in a createConversation frame as invalid_request', () => {
    // Act
    const code = codeOf(createConversationFrameSchema, {
      action: 'createConversation',
      members: ['bob\u200b'],
    });

    // Assess
    expect(code).toBe('invalid_request');
  });
});

describe('send body', () => {
  it.each([
    ['an emoji with a skin tone and ZWJ', '👩🏽‍💻'],
    ['a ZWJ family emoji', '👨‍👩‍👧‍👦'],
    ['a flag', '🇯🇵'],
    ['Hebrew (RTL)', 'שלום'],
    ['Arabic (RTL)', 'مرحبا'],
    ['combining marks', 'e\u0301 a\u0308 Z\u0351\u0360\u0361'],
    ['the noncharacters U+FFFE and U+FFFF', 'a\ufffeb\uffffc'],
    ['a NUL inside the body', 'before\u0000after'],
    [`exactly ${LIMITS.maxBodyBytes} bytes of 4-byte characters`, CLEF.repeat(LIMITS.maxBodyBytes / 4)],
  ])('accepts %s', (_case, body) => {
    // Act
    const code = codeOf(sendFrameSchema, sendFrame(body));

    // Assess
    expect(code).toBe('ok');
  });

  it.each([
    ['a lone high surrogate between letters', 'invalid_request', 'a\ud800b'],
    ['a lone low surrogate', 'invalid_request', '\udc00'],
    ['an empty body', 'invalid_request', ''],
    [
      `one 4-byte character over ${LIMITS.maxBodyBytes} bytes`,
      'payload_too_large',
      CLEF.repeat(LIMITS.maxBodyBytes / 4 + 1),
    ],
  ])('refuses %s with %s', (_case, expected, body) => {
    // Act
    const code = codeOf(sendFrameSchema, sendFrame(body));

    // Assess
    expect(code).toBe(expected);
  });
});

describe('createConversation title', () => {
  it.each([
    ['accepts an emoji title', 'Trip 🇯🇵 👨‍👩‍👧‍👦', 'ok'],
    ['refuses a title with a lone surrogate', 'Trip \ud83d', 'invalid_request'],
  ])('%s', (_case, title, expected) => {
    // Act
    const code = codeOf(createConversationFrameSchema, {
      action: 'createConversation',
      members: ['bob'],
      title,
    });

    // Assess
    expect(code).toBe(expected);
  });
});
