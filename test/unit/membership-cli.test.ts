import { describe, expect, it, vi } from 'vitest';
import type { ChatClient } from '../../client';
import { parseInput } from '../../local/chat/args';
import type { Line } from '../../local/chat/format';
import { runMembershipCommand } from '../../local/chat/membership-commands';

describe('the terminal client’s membership commands', () => {
  it.each([
    ['/block mallory', { kind: 'block', userId: 'mallory' }],
    ['/unblock mallory', { kind: 'unblock', userId: 'mallory' }],
    ['/promote bob', { kind: 'promote', userId: 'bob' }],
    ['/accept g-1', { kind: 'accept', conversationId: 'g-1' }],
    ['/decline g-1', { kind: 'decline', conversationId: 'g-1' }],
  ])('reads %s', (text, command) => {
    expect(parseInput(text)).toEqual(command);
  });

  it.each([['/block'], ['/promote a b'], ['/accept not#an-id'], ['/decline']])(
    'answers %s with its usage',
    (text) => {
      expect(parseInput(text)).toMatchObject({
        kind: 'invalid',
        message: expect.stringMatching(/^Usage: \//),
      });
    },
  );

  it('refuses a word that only starts like a command (it is no command), and `//` sends it as text', () => {
    expect(parseInput('/blockchain is a word')).toMatchObject({
      kind: 'invalid',
      message: expect.stringMatching(/^There is no command \/blockchain; nothing was sent/),
    });
    expect(parseInput('//blockchain is a word')).toEqual({ kind: 'send', body: '/blockchain is a word' });
  });

  it('runs /promote in the open conversation and /accept on the named one, saying how each went', async () => {
    // Prepare
    const chat = {
      promote: vi.fn(async () => ({ conversationId: 'c1', userId: 'bob', promoted: true, seq: 3 })),
      accept: vi.fn(async () => ({ conversationId: 'g-1', joined: true, seq: 2 })),
    } as unknown as ChatClient;
    const notes: string[] = [];
    const screen = { note: (shown: Line) => notes.push(shown.plain) };

    // Act
    await runMembershipCommand(chat, 'c1', { kind: 'promote', userId: 'bob' }, screen);
    await runMembershipCommand(chat, 'c1', { kind: 'accept', conversationId: 'g-1' }, screen);

    // Assess
    expect(chat.promote).toHaveBeenCalledWith('c1', 'bob');
    expect(chat.accept).toHaveBeenCalledWith('g-1');
    expect(notes.join('\n')).toMatch(/bob is now an admin[\s\S]*joined g-1/);
  });
});
