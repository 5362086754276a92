import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseArgs, parseInput, UsageError } from '../../local/chat/args';
import {
  activityText,
  attachmentText,
  clock,
  membershipText,
  onlineText,
  presenceText,
  printable,
  rowsOf,
} from '../../local/chat/format';
import { tokenSubject } from '../../local/chat/session';
import { contentTypeOf, uploadFetch } from '../../local/chat/upload';

describe('parseArgs', () => {
  it('creates a conversation as a local user, with members and a title', () => {
    const command = parseArgs(['--user', 'alice', '--to', 'bob,carol', '--title', 'Lunch 🍜']);

    expect(command).toEqual({
      command: 'chat',
      options: {
        server: { kind: 'local', user: 'alice' },
        conversation: { kind: 'create', members: ['bob', 'carol'], title: 'Lunch 🍜' },
        historySize: 20,
        waitSeconds: 30,
      },
    });
  });

  it('joins a conversation on a deployment with a token, and takes --history and --wait', () => {
    const url = 'wss://abc123.execute-api.eu-west-1.amazonaws.com/prod';

    const command = parseArgs([
      '--url',
      url,
      '--token',
      'eyJ.x.y',
      '--conversation',
      'c-1',
      '--history',
      '0',
      '--wait',
      '2.5',
    ]);

    expect(command).toEqual({
      command: 'chat',
      options: {
        server: { kind: 'remote', url, token: 'eyJ.x.y' },
        conversation: { kind: 'join', conversationId: 'c-1' },
        historySize: 0,
        waitSeconds: 2.5,
      },
    });
  });

  it('takes --name=value, so a value may start with --, and joins repeated --to lists without repeats', () => {
    const command = parseArgs(['--user=alice', '--to', ' bob , carol', '--to=bob,dave', '--title=--odd']);

    expect(command).toMatchObject({
      options: { conversation: { kind: 'create', members: ['bob', 'carol', 'dave'], title: '--odd' } },
    });
  });

  it.each([[['--help']], [['-h']], [['--user', 'alice', '--help']]])('answers help for %j', (args) => {
    expect(parseArgs(args)).toEqual({ command: 'help' });
  });

  it.each([
    ['nothing', [], 'Say who you are: --user <id> on `npm start`, or --url wss://… --token <JWT>'],
    [
      'no conversation',
      ['--user', 'alice'],
      'Say whom to chat with: --to <ids> creates a conversation, --conversation <id> joins one',
    ],
    [
      'a bare user name',
      ['alice', '--to', 'bob'],
      'Unexpected argument "alice" (did you mean --user alice?)',
    ],
    ['an unknown option', ['--user', 'alice', '--too', 'bob'], 'Unknown option --too'],
    ['a missing value', ['--user', 'alice', '--to'], '--to needs a value'],
    ['an option where a value belongs', ['--user', 'alice', '--to', '--title', 'x'], '--to needs a value'],
    ['an option given twice', ['--user', 'alice', '--user', 'bob', '--to', 'carol'], '--user is given twice'],
    [
      'both --user and --url',
      ['--user', 'alice', '--url', 'wss://x/prod', '--token', 't', '--to', 'bob'],
      '--user is for the local runtime and --url for a deployment: give one of them',
    ],
    ['--url without a token', ['--url', 'wss://x/prod', '--to', 'bob'], '--url needs --token <JWT>'],
    [
      '--token with --user',
      ['--user', 'alice', '--token', 't', '--to', 'bob'],
      '--token goes with --url; with --user a local token is fetched for you',
    ],
    [
      'an http URL',
      ['--url', 'https://x/prod', '--token', 't', '--to', 'bob'],
      '--url must be a wss:// (or ws://) URL, not https://',
    ],
    ['a URL that is none', ['--url', 'x', '--token', 't', '--to', 'bob'], '--url "x" is not a URL'],
    [
      'both --to and --conversation',
      ['--user', 'alice', '--to', 'bob', '--conversation', 'c1'],
      '--to creates a conversation and --conversation joins one: give one of them',
    ],
    [
      '--title when joining',
      ['--user', 'alice', '--conversation', 'c1', '--title', 'x'],
      '--title names a new conversation: use it with --to',
    ],
    ['only commas for members', ['--user', 'alice', '--to', ' , '], '--to needs at least one member'],
    [
      'a user id with a space',
      ['--user', 'al ice', '--to', 'bob'],
      '--user "al ice": must not contain spaces',
    ],
    ['a member id with a #', ['--user', 'alice', '--to', 'bob#1'], '--to "bob#1": must not contain'],
    [
      'a malformed conversation id',
      ['--user', 'alice', '--conversation', '../c1'],
      '--conversation "../c1": must be 1-64 characters',
    ],
    [
      'a title too long',
      ['--user', 'alice', '--to', 'bob', '--title', 'x'.repeat(201)],
      '--title takes 1-200',
    ],
    [
      'a negative history',
      ['--user', 'alice', '--to', 'bob', '--history', '-1'],
      '--history takes a whole number of messages (0 for none)',
    ],
    [
      'a fractional history',
      ['--user', 'alice', '--to', 'bob', '--history', '1.5'],
      '--history takes a whole number of messages (0 for none)',
    ],
    [
      'a zero wait',
      ['--user', 'alice', '--to', 'bob', '--wait', '0'],
      '--wait takes a positive number of seconds',
    ],
    ['a wordy wait', ['--user', 'alice', '--to', 'bob', '--wait', 'long'], '--wait takes a positive number'],
  ])('refuses %s with a usage error that says why', (_, args, message) => {
    expect(() => parseArgs(args)).toThrow(UsageError);
    expect(() => parseArgs(args)).toThrow(message);
  });
});

describe('tokenSubject', () => {
  it("reads a JWT's sub claim without verifying it", () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'zoë', exp: 1 })).toString('base64url');

    expect(tokenSubject(`eyJhbGciOiJSUzI1NiJ9.${payload}.signature`)).toBe('zoë');
  });

  it.each(['', 'not-a-jwt', 'a.b.c', `a.${Buffer.from('{"sub":7}').toString('base64url')}.c`])(
    'gives undefined for %j',
    (token) => {
      expect(tokenSubject(token)).toBeUndefined();
    },
  );
});

describe('printable', () => {
  it('keeps a message on one line and neutralises terminal control sequences', () => {
    expect(printable('one\ntwo\r\nthree\u2028four\tfive')).toBe('one ⏎ two ⏎ three ⏎ four five');
    expect(printable('\u001b[2Jgone\u0000\u007f\u009b')).toBe('␛[2Jgone␀␡�');
  });

  it('leaves any other text as it is', () => {
    const text = 'héllo 👋 👨‍👩‍👧 🇯🇵 مرحبا 中文 e\u0301';

    expect(printable(text)).toBe(text);
  });
});

describe('clock', () => {
  const now = new Date(2025, 4, 1, 18, 0, 0);

  it('shows the local time of a message sent today', () => {
    expect(clock(new Date(2025, 4, 1, 9, 5, 7).toISOString(), now)).toBe('09:05:07');
  });

  it('puts the date before the time of a message from another day', () => {
    expect(clock(new Date(2025, 3, 30, 23, 59, 1).toISOString(), now)).toBe('2025-04-30 23:59:01');
  });

  it('shows a placeholder for a time it cannot read', () => {
    expect(clock('soon', now)).toBe('--:--:--');
  });
});

describe('rowsOf', () => {
  it('counts the rows of a line whose every width is known', () => {
    expect(rowsOf('x'.repeat(80), 80)).toBe(1);
    expect(rowsOf('x'.repeat(81), 80)).toBe(2);
    expect(rowsOf(`${'x'.repeat(100)}  ✓`, 80)).toBe(2);
  });

  it('knows a short line takes one row whatever its characters', () => {
    expect(rowsOf('中文 👨‍👩‍👧 🇯🇵', 80)).toBe(1);
  });

  it('does not guess the rows of a long line of characters whose width varies between terminals', () => {
    expect(rowsOf('👋'.repeat(60), 80)).toBeUndefined();
  });
});

describe('parseInput', () => {
  it('reads /leave, and nothing after it', () => {
    expect(parseInput('/leave')).toEqual({ kind: 'leave' });
    expect(parseInput('/leave now')).toEqual({ kind: 'invalid', message: 'Usage: /leave' });
    expect(parseInput('/leaves')).toEqual({
      kind: 'invalid',
      message: expect.stringContaining('There is no command /leaves; nothing was sent.'),
    });
    expect(parseInput('//leave')).toEqual({ kind: 'send', body: '/leave' });
  });

  it("reads a room admin's /ban, /unban, /banned [after] and /newlink, each user id checked as the server would", () => {
    expect(parseInput('/ban eve')).toEqual({ kind: 'ban', userId: 'eve' });
    expect(parseInput('/unban  eve ')).toEqual({ kind: 'unban', userId: 'eve' });
    expect(parseInput('/banned')).toEqual({ kind: 'banned' });
    expect(parseInput('/banned dave')).toEqual({ kind: 'banned', after: 'dave' });
    expect(parseInput('/newlink')).toEqual({ kind: 'newlink' });
    expect(parseInput('/ban')).toEqual({ kind: 'invalid', message: 'Usage: /ban <user id>' });
    expect(parseInput('/unban e#ve')).toEqual({ kind: 'invalid', message: 'Usage: /unban <user id>' });
    expect(parseInput('/newlink now')).toEqual({ kind: 'invalid', message: 'Usage: /newlink' });
    expect(parseInput('/banana')).toMatchObject({
      kind: 'invalid',
      message: expect.stringContaining('no command /banana'),
    });
  });

  it('reads /attach <path> [text], a quoted path with spaces too', () => {
    expect(parseInput('/attach ./dot.png')).toEqual({ kind: 'attach', path: './dot.png' });
    expect(parseInput('/attach dot.png  the dot 🔵 ')).toEqual({
      kind: 'attach',
      path: 'dot.png',
      caption: 'the dot 🔵',
    });
    expect(parseInput('/attach "my notes.pdf" for you')).toEqual({
      kind: 'attach',
      path: 'my notes.pdf',
      caption: 'for you',
    });
    for (const text of ['/attach', '/attach   ', '/attach "unclosed.png'])
      expect(parseInput(text)).toMatchObject({
        kind: 'invalid',
        message: expect.stringMatching(/^Usage: \/attach/),
      });
    expect(parseInput('/attachment')).toEqual({
      kind: 'invalid',
      message: expect.stringContaining('There is no command /attachment; nothing was sent.'),
    });
  });

  it('knows the attachment type of a file by its extension, and no other', () => {
    expect(contentTypeOf('a/b/Photo.JPG')).toBe('image/jpeg');
    expect(contentTypeOf('x.jpeg')).toBe('image/jpeg');
    expect(contentTypeOf('x.webp')).toBe('image/webp');
    expect(contentTypeOf('notes.pdf')).toBe('application/pdf');
    expect(contentTypeOf('notes.txt')).toBeUndefined();
    expect(contentTypeOf('png')).toBeUndefined();
  });

  it('says who else is online, and presence changes, in one short line each', () => {
    expect(onlineText(['alice', 'bob', 'carol'], 'alice')).toBe('online: bob, carol');
    expect(onlineText(['alice'], 'alice')).toBe('nobody else is online');
    expect(presenceText('bob', true)).toBe('● bob is online');
    expect(presenceText('bob\u001b[2J', false)).toBe('○ bob␛[2J went offline');
  });

  it('shows a message in another conversation as one short line with its preview', () => {
    const activity = { conversationId: 'c-2', senderId: 'bob', preview: 'lunch?\nat 12' };
    expect(activityText(activity, 1)).toBe('[c-2] 1 new from bob: lunch? ⏎ at 12');
    expect(activityText({ ...activity, preview: 'x'.repeat(100) }, 3)).toBe(
      `[c-2] 3 new from bob: ${'x'.repeat(39)}…`,
    );
    expect(
      activityText({ ...activity, preview: 'dot.png', attachment: { contentType: 'image/png' } }, 2),
    ).toBe('[c-2] 2 new from bob: 📎 dot.png');
  });

  it('shows a membership change as a line of its own', () => {
    expect(membershipText({ kind: 'member_added', userIds: ['dave', 'erin'], by: 'alice' })).toBe(
      '— alice added dave, erin —',
    );
    expect(membershipText({ kind: 'member_removed', userIds: ['carol'], by: 'alice' })).toBe(
      '— alice removed carol —',
    );
    expect(membershipText({ kind: 'member_left', userIds: ['bob'], by: 'bob' })).toBe('— bob left —');
  });

  it('shows an attachment as its type, size and key', () => {
    const key = 'conversations/c1/00000000-0000-4000-8000-000000000001';
    expect(attachmentText({ key, contentType: 'image/png', size: 123 })).toBe(`[image/png 123 B] ${key}`);
  });

  it('sends any line that is not a command as it is', () => {
    expect(parseInput('hello /edit 3 x')).toEqual({ kind: 'send', body: 'hello /edit 3 x' });
    expect(parseInput('/ not a command')).toEqual({ kind: 'send', body: '/ not a command' });
  });

  it('sends a line starting with // as a message starting with /', () => {
    expect(parseInput('//edit 3 not a command')).toEqual({ kind: 'send', body: '/edit 3 not a command' });
  });

  it('reads /edit <seq> <text>, keeping the text as typed', () => {
    expect(parseInput('/edit 12 lunch at  12:30 🍜')).toEqual({
      kind: 'edit',
      seq: 12,
      body: 'lunch at  12:30 🍜',
    });
    expect(parseInput('/edit #3 fixed')).toEqual({ kind: 'edit', seq: 3, body: 'fixed' });
  });

  it('reads /delete <seq>', () => {
    expect(parseInput('/delete 7')).toEqual({ kind: 'delete', seq: 7 });
    expect(parseInput('/delete #7 ')).toEqual({ kind: 'delete', seq: 7 });
  });

  it('explains a command without its seq or text', () => {
    for (const text of ['/edit', '/edit 3', '/edit 3   ', '/edit x body', '/edit 0 body'])
      expect(parseInput(text)).toEqual({ kind: 'invalid', message: 'Usage: /edit <seq> <text>' });
    for (const text of ['/delete', '/delete x', '/delete 0', '/delete 3 4'])
      expect(parseInput(text)).toEqual({ kind: 'invalid', message: 'Usage: /delete <seq>' });
  });
});

describe('uploadFetch', () => {
  it('POSTs the form to a *.localhost URL on loopback with its Host header and multipart encoding', async () => {
    // Prepare: a server on loopback stands in for the local S3 (glibc does not resolve *.localhost).
    const received: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders; body: string }> = [];
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const { method, url, headers } = request;
        received.push({ method, url, headers, body: Buffer.concat(chunks).toString() });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const form = new FormData();
    form.append('key', 'uploads/c1/k');
    form.append('file', new Blob([new Uint8Array([0x61, 0x62, 0x63])], { type: 'image/png' }));

    try {
      // Act
      const answer = await uploadFetch(`http://chat-bucket.s3.localhost:${port}/`, {
        method: 'POST',
        body: form,
      });

      // Assess
      expect(answer).toMatchObject({ ok: true, status: 204 });
      expect(received).toEqual([
        {
          method: 'POST',
          url: '/',
          headers: expect.objectContaining({
            host: `chat-bucket.s3.localhost:${port}`,
            'content-type': expect.stringMatching(/^multipart\/form-data; boundary=/),
          }),
          body: expect.stringMatching(
            /name="key"\r\n\r\nuploads\/c1\/k\r\n[\s\S]*name="file"[\s\S]*\r\n\r\nabc\r\n/,
          ),
        },
      ]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
