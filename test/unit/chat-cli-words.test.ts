import { describe, expect, it } from 'vitest';
import type { ConversationState } from '../../client';
import { type ErrorAction, errorWords, NOT_IN_CONVERSATION } from '../../client/error-words';
import { COMMANDS, parseInput } from '../../local/chat/args';
import { ConversationNames } from '../../local/chat/elsewhere';
import type { Line } from '../../local/chat/format';
import { noteRoomState } from '../../local/chat/room-notes';

const CODES = [
  'invalid_json',
  'unknown_action',
  'invalid_request',
  'payload_too_large',
  'unauthorized',
  'forbidden',
  'not_found',
  'busy',
  'rate_limited',
  'limit_exceeded',
  'conflict',
  'connection_gone',
  'token_expired',
  'internal_error',
  'no_answer',
  'closed',
];
const ACTIONS: ErrorAction[] = [
  'send',
  'attach',
  'edit',
  'delete',
  'open',
  'create',
  'add',
  'remove',
  'leave',
  'promote',
  'block',
  'unblock',
  'accept',
  'decline',
  'joinRoom',
  'unban',
  'newLink',
];

describe('errorWords', () => {
  it('gives every refusal one sentence, with no code and no validation text in it', () => {
    for (const code of CODES)
      for (const action of ACTIONS) {
        // The server's message is used only for limit_exceeded, whose messages are written for people.
        const detail =
          code === 'limit_exceeded'
            ? 'You may block at most 1000 users; unblock one first'
            : 'Invalid request: members: Too small (invalid_request)';
        const words = errorWords(code, action, detail);
        expect(words, `${code} ${action}`).toMatch(/^[A-Z][^\n]*\.$/);
        expect(words, `${code} ${action}`).not.toMatch(/[a-z]+_[a-z]+|Invalid request|Too small/);
      }
  });

  it('tells a user banned from a room from one with a wrong link', () => {
    expect(errorWords('forbidden', 'joinRoom', 'An admin removed you from room room_1')).toBe(
      'An admin of this room banned you: only an admin can lift the ban.',
    );
    expect(errorWords('forbidden', 'joinRoom', 'That invite code does not open room room_1')).toMatch(
      /^No room opens with that id and link/,
    );
  });

  it('says a conversation the server will not show does not exist or is not yours', () => {
    expect(errorWords('forbidden', 'open')).toBe(NOT_IN_CONVERSATION);
    expect(errorWords('forbidden', 'send')).toBe('This conversation does not exist or you are not in it.');
    expect(errorWords('forbidden', 'edit')).toBe(
      'You can edit only your own messages, in a conversation you are in.',
    );
  });

  it('names the limit for a body or a file that is too large, and keeps the words of a limit the server names', () => {
    expect(errorWords('payload_too_large', 'send')).toBe(
      'The message is too long: the limit is 16 KB of text.',
    );
    expect(errorWords('payload_too_large', 'attach')).toBe('The file is too large: the limit is 10 MB.');
    expect(errorWords('limit_exceeded', 'add', 'A conversation has at most 100 members')).toBe(
      'A conversation has at most 100 members.',
    );
  });
});

describe('parseInput: commands', () => {
  it('refuses an unknown command, sends nothing, and lists the commands', () => {
    const parsed = parseInput('/foo bar');

    expect(parsed).toEqual({
      kind: 'invalid',
      message: `There is no command /foo; nothing was sent. The commands:\n${COMMANDS}`,
    });
    expect(COMMANDS).toContain('/attach <path> [text]');
    expect(COMMANDS).toContain('//<text>');
  });

  it('reads /help, and still sends // as a leading slash', () => {
    expect(parseInput('/help')).toEqual({ kind: 'help' });
    expect(parseInput('//foo bar')).toEqual({ kind: 'send', body: '/foo bar' });
  });
});

describe('ConversationNames', () => {
  it('names a conversation by the one rule, reading the list once for callers at the same time', async () => {
    let reads = 0;
    const names = new ConversationNames(
      {
        listAllConversations: async () => {
          reads += 1;
          return {
            conversations: [
              { conversationId: 'c-1', members: ['me', 'alice', 'bob'], readSeq: 0, unread: 0 },
              { conversationId: 'c-2', title: 'Lunch', members: ['me'], readSeq: 0, unread: 0 },
            ],
          } as never;
        },
      },
      'me',
    );

    const [first, second] = await Promise.all([names.nameOf('c-1'), names.nameOf('c-2')]);

    expect([first, second]).toEqual(['alice, bob', 'Lunch']);
    expect(reads).toBe(1);
    expect(await names.nameOf('0a1b2c3d-unknown')).toBe('Conversation 0a1b2c3d');
  });
});

describe('noteRoomState', () => {
  const state = (online: string[], typing: string[] = []): ConversationState => ({
    members: ['me', 'alice', 'bob'],
    typing,
    readSeqs: {},
    online,
    lastSeq: 0,
  });

  it('notes who is online once known, then arrivals, departures and a new typist, from room.state', () => {
    const notes: string[] = [];
    let listener: (s: ConversationState) => void = () => {};
    const chat = { state: 'open' as 'open' | 'connecting' };
    noteRoomState(
      chat as never,
      { on: (_event: string, fn: (s: ConversationState) => void) => (listener = fn) } as never,
      { note: (text: Line) => notes.push(text.plain) },
      'me',
    );

    listener(state([]));
    listener(state(['me', 'alice']));
    listener(state(['me', 'alice'], ['alice']));
    listener(state(['me', 'alice'], ['alice']));
    listener(state(['me', 'bob']));
    chat.state = 'connecting';
    listener(state([]));

    expect(notes).toEqual(['online: alice', 'alice is typing…', '● bob is online', '○ alice went offline']);
  });
});
