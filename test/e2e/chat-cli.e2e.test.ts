import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { describe, expect, it } from 'vitest';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';
import { ChatCli as ChatCliProcess, killChatClisAfterEach, sdkClient } from './chat-cli-process';
import { letAnyoneAdd } from './helpers';

// The CLI finds the runtime as it finds `npm start`: through the state file (this process is its pid).
const { runtime, stateFile } = useLocalRuntime({ stateFile: true });
/** A folder of this file's own, for files the CLI reads. */
const scratchDir = (): string => path.dirname(stateFile());
killChatClisAfterEach();

/** The terminal client on this file's runtime. */
class ChatCli extends ChatCliProcess {
  constructor(args: string[], env: Record<string, string> = { RUNTIME_STATE_FILE: stateFile() }) {
    super(args, env);
  }
}

describe('npm run chat', () => {
  it('lets alice create a conversation and bob join it; each sees the other’s lines in order', async () => {
    // Prepare: alice creates the conversation and sends three lines before bob is there
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const aliceCli = new ChatCli(['--user', alice, '--to', bob, '--title', 'CLI test']);
    const early = ['hello bob 👋', 'second — ñ, 中文, مرحبا', 'third 🇯🇵 👨‍👩‍👧 e\u0301'];
    aliceCli.type(...early);
    await expect
      .poll(() => aliceCli.stdout.match(/^✓ sent/gm)?.length, { timeout: 30_000, interval: 200 })
      .toBe(3);
    const conversationId = aliceCli.conversationId();
    // Act: bob joins with the printed id and answers; alice sends one more while bob is there
    const bobCli = new ChatCli(['--user', bob, '--conversation', String(conversationId)]);
    await expect.poll(() => bobCli.messagesFrom(alice), { timeout: 30_000, interval: 200 }).toEqual(early);
    bobCli.type('hi alice', 'bob here 🎉');
    aliceCli.type('live one');
    await expect
      .poll(() => bobCli.messagesFrom(alice), { timeout: 30_000, interval: 200 })
      .toEqual([...early, 'live one']);
    await expect
      .poll(() => aliceCli.messagesFrom(bob), { timeout: 30_000, interval: 200 })
      .toEqual(['hi alice', 'bob here 🎉']);
    aliceCli.endInput();
    bobCli.endInput();
    // Assess
    expect(await aliceCli.exited).toBe(0);
    expect(await bobCli.exited).toBe(0);
    // bob shares no group with alice, so by default he is invited, and joining by the printed id accepts.
    expect(aliceCli.stdout).toContain(`Conversation ${conversationId} created "CLI test": ${alice}\n`);
    expect(aliceCli.stdout).toContain(`Invited ${bob}: they are in once they accept`);
    expect(aliceCli.stdout).toContain(`npm run chat -- --user ${bob} --conversation ${conversationId}`);
    expect(aliceCli.messagesFrom(alice)).toEqual([...early, 'live one'].map((body) => `${body}  …`));
    // The first three were alone in the conversation: seqs 1..3. The last raced bob's two.
    expect(aliceCli.stdout.match(/^✓ sent \(#\d\): .*$/gm)).toEqual([
      '✓ sent (#1): hello bob 👋',
      '✓ sent (#2): second — ñ, 中文, مرحبا',
      '✓ sent (#3): third 🇯🇵 👨‍👩‍👧 e\u0301',
      expect.stringMatching(/^✓ sent \(#[4-6]\): live one$/),
    ]);
    expect(aliceCli.stderr).toContain('4 of 4 messages sent.');
    expect(bobCli.stdout).toContain(`✓ accepted ${alice}'s invitation to "CLI test"`);
    expect(bobCli.stdout).toContain(`Conversation ${conversationId} joined`);
    expect(bobCli.stdout).toContain('── 3 earlier messages ──');
    expect(bobCli.messagesFrom(bob)).toEqual(['hi alice  …', 'bob here 🎉  …']);
    expect(bobCli.stderr).toContain('2 of 2 messages sent.');
  }, 120_000);

  it('shows the unread count on join, and edits and deletes of shown messages', async () => {
    // Prepare: alice writes before bob joins.
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    await letAnyoneAdd(runtime(), [bob]);
    const aliceCli = new ChatCli(['--user', alice, '--to', bob]);
    await expect.poll(() => aliceCli.conversationId(), { timeout: 30_000, interval: 200 }).toBeDefined();
    const conversationId = String(aliceCli.conversationId());
    aliceCli.type('helo');
    await expect
      .poll(() => aliceCli.stdout, { timeout: 30_000, interval: 200 })
      .toContain('✓ sent (#1): helo');
    const bobCli = new ChatCli(['--user', bob, '--conversation', conversationId]);
    await expect
      .poll(() => bobCli.stdout, { timeout: 30_000, interval: 200 })
      .toContain(`Conversation ${conversationId} joined: ${alice} · 1 unread`);
    await expect.poll(() => bobCli.messagesFrom(alice), { timeout: 30_000, interval: 200 }).toEqual(['helo']);
    // Act
    aliceCli.type('/edit 1 hello', '/edit x');
    await expect
      .poll(() => bobCli.stdout, { timeout: 30_000, interval: 200 })
      .toContain('✎ edited #1: hello');
    aliceCli.type('/delete 1');
    // Assess
    await expect.poll(() => bobCli.stdout, { timeout: 30_000, interval: 200 }).toContain('✗ deleted #1');
    expect(aliceCli.stderr).toContain('Usage: /edit <seq> <text>');
    aliceCli.endInput();
    bobCli.endInput();
    expect(await aliceCli.exited).toBe(0);
    expect(await bobCli.exited).toBe(0);
    const reader = new ChatCli(['--user', bob, '--conversation', conversationId]);
    await expect
      .poll(() => reader.stdout, { timeout: 30_000, interval: 200 })
      .toContain(`Conversation ${conversationId} joined`);
    reader.endInput();
    expect(await reader.exited).toBe(0);
    expect(reader.stdout).not.toContain('unread'); // bob read it all
  }, 120_000);

  it('counts none of a user’s own messages as unread to them, even when they quit at once', async () => {
    // Prepare: messages piped in, so the terminal quits as soon as the last one is acked.
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    await letAnyoneAdd(runtime(), [bob]);
    const aliceCli = new ChatCli(['--user', alice, '--to', bob]);
    aliceCli.type('one', 'two', 'three');

    // Act
    aliceCli.endInput();
    expect(await aliceCli.exited).toBe(0);

    // Assess: alice has read her own three; bob has not read them yet.
    const conversationId = String(aliceCli.conversationId());
    const unreadOf = async (userId: string) => {
      const chat = sdkClient(runtime(), userId);
      try {
        const { conversations } = await chat.listConversations({ limit: 100 });
        return conversations.find((c) => c.conversationId === conversationId)?.unread;
      } finally {
        chat.close();
      }
    };
    expect(await unreadOf(alice)).toBe(0);
    expect(await unreadOf(bob)).toBe(3);
  }, 120_000);

  it('shows a message’s attachment as its type, size and key, and leaves with /leave', async () => {
    // Prepare: alice (an SDK client) sends a message that names a file; bob joins in the terminal.
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    await letAnyoneAdd(runtime(), [bob]);
    const chat = sdkClient(runtime(), alice);
    try {
      const { conversationId } = await chat.createConversation([bob], 'Files');
      // A message may name only a file the server checked: alice uploads and confirms a real PNG.
      const png = Buffer.from(
        'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
        'base64',
      );
      const { attachment, acked } = await chat.attach(conversationId, png, 'image/png', 'a photo');
      await acked;
      const bobCli = new ChatCli(['--user', bob, '--conversation', conversationId]);
      await expect
        .poll(() => bobCli.stdout, { timeout: 30_000, interval: 200 })
        .toContain(`[image/png ${png.length} B] ${attachment.key}`);
      expect(bobCli.messagesFrom(alice)).toEqual(['a photo']);

      // Act
      bobCli.type('/leave', 'typed after leaving');

      // Assess: the client says so and exits by itself; nothing typed after /leave is sent.
      expect(await bobCli.exited).toBe(0);
      expect(bobCli.stderr).toContain('You left Files. Next: npm run chat -- --user');
      expect(bobCli.stdout).not.toContain('typed after leaving');
      expect(bobCli.stderr).toMatch(
        /^✗ not sent \(you are leaving this conversation\): typed after leaving$/m,
      );

      // Assess: the server says bob is gone.
      const { removed } = await chat.removeMember(conversationId, bob);
      expect(removed).toBe(false);
    } finally {
      chat.close();
    }
  }, 120_000);

  it('shows membership changes as lines, and a message in another conversation as a short note', async () => {
    // Prepare: bob follows one of two conversations he shares with alice (an SDK client).
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const carol = uniqueUser('carol');
    await letAnyoneAdd(runtime(), [bob, carol]);
    const chat = sdkClient(runtime(), alice);
    try {
      const { conversationId } = await chat.createConversation([bob], 'Followed');
      const other = await chat.createConversation([bob], 'Elsewhere');
      const bobCli = new ChatCli(['--user', bob, '--conversation', conversationId]);
      await expect.poll(() => bobCli.stdout, { timeout: 30_000, interval: 200 }).toContain('no messages yet');

      // Act
      await chat.addMembers(conversationId, [carol]);
      await chat.send(other.conversationId, 'over here').acked;
      const third = await chat.createConversation([carol], 'Later');
      await chat.addMembers(third.conversationId, [bob]);

      // Assess
      await expect
        .poll(() => bobCli.stdout, { timeout: 30_000, interval: 200 })
        .toContain(`— ${alice} added ${carol} —`);
      await expect
        .poll(() => bobCli.stderr, { timeout: 30_000, interval: 200 })
        .toContain(`[Elsewhere] 1 new from ${alice}: over here`);
      await expect
        .poll(() => bobCli.stderr, { timeout: 30_000, interval: 200 })
        .toContain(`[Later] — ${alice} added ${bob} —`);
      bobCli.endInput();
      expect(await bobCli.exited).toBe(0);
    } finally {
      chat.close();
    }
  }, 120_000);

  it('says who else is online on joining, who types (from room.state), and who goes offline after', async () => {
    // Prepare: alice is connected (an SDK client) and listens to the conversation.
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    await letAnyoneAdd(runtime(), [bob]);
    const chat = sdkClient(runtime(), alice);
    const { conversationId } = await chat.createConversation([bob], 'Presence');
    await chat.conversation(conversationId).ready;

    // Act
    const bobCli = new ChatCli(['--user', bob, '--conversation', conversationId]);
    await expect.poll(() => bobCli.stderr, { timeout: 30_000, interval: 200 }).toContain(`online: ${alice}`);
    await chat.typing(conversationId);
    await expect
      .poll(() => bobCli.stderr, { timeout: 30_000, interval: 200 })
      .toContain(`${alice} is typing…`);
    chat.close();

    // Assess
    await expect
      .poll(() => bobCli.stderr, { timeout: 30_000, interval: 200 })
      .toContain(`○ ${alice} went offline`);
    bobCli.endInput();
    expect(await bobCli.exited).toBe(0);
  }, 120_000);

  it('attaches a file with /attach: uploaded to the bucket, sent with its caption, and shown with its key', async () => {
    // Prepare: alice (an SDK client) creates the conversation; bob has a PNG on disk.
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    await letAnyoneAdd(runtime(), [bob]);
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR4nGPQqLiDFTEMLQkA8eRfATA3bycAAAAASUVORK5CYII=',
      'base64',
    );
    const file = path.join(scratchDir(), 'dot 1.png');
    writeFileSync(file, png);
    const chat = sdkClient(runtime(), alice);
    try {
      const { conversationId } = await chat.createConversation([bob], 'Files');
      const bobCli = new ChatCli(['--user', bob, '--conversation', conversationId]);

      // Act: the command piped in, as a script would; the client exits once the message is acked.
      bobCli.type(`/attach "${file}" a blue dot`, '/attach notes.txt');
      bobCli.endInput();

      // Assess: sent, shown with its file line; a file of another type is refused before any upload.
      expect(await bobCli.exited).toBe(0);
      expect(bobCli.stdout).toContain('✓ sent (#1): a blue dot');
      expect(bobCli.stdout).toMatch(
        new RegExp(`\\[image/png ${png.length} B\\] conversations/${conversationId}/[0-9a-f-]{36}`),
      );
      expect(bobCli.stderr).toContain(
        '✗ could not attach notes.txt: only .png .jpg .jpeg .gif .webp .pdf files can be attached.',
      );
      const { messages } = await chat.history(conversationId);
      expect(messages).toEqual([
        expect.objectContaining({
          seq: 1,
          senderId: bob,
          body: 'a blue dot',
          attachment: expect.objectContaining({ contentType: 'image/png', size: png.length }),
        }),
      ]);
      // The bytes are in the bucket: alice downloads them through a download URL.
      const [message] = messages;
      const key = message && 'attachment' in message ? (message.attachment?.key ?? '') : '';
      const { url } = await chat.downloadUrl(conversationId, key);
      const download = await fetch(url);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer())).toEqual(png);
    } finally {
      chat.close();
    }
  }, 120_000);

  it('shows a reconnect when the server drops the connection, and misses nothing meanwhile', async () => {
    // Prepare
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    await letAnyoneAdd(runtime(), [bob]);
    const aliceCli = new ChatCli(['--user', alice, '--to', bob]);
    await expect.poll(() => aliceCli.conversationId(), { timeout: 30_000, interval: 200 }).toBeDefined();
    const before = new Set(runtime().api.connectionIds());
    const bobCli = new ChatCli(['--user', bob, '--conversation', String(aliceCli.conversationId())]);
    await expect
      .poll(() => bobCli.stdout, { timeout: 30_000, interval: 200 })
      .toContain('── no messages yet ──');
    const [bobConnection] = runtime()
      .api.connectionIds()
      .filter((id) => !before.has(id));
    const api = new ApiGatewayManagementApiClient({
      endpoint: runtime().managementEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    // Act: the server drops bob's connection, and alice writes while bob is away
    await api.send(new DeleteConnectionCommand({ ConnectionId: bobConnection }));
    aliceCli.type('while you were away', 'and after');
    // Assess
    await expect
      .poll(() => bobCli.messagesFrom(alice), { timeout: 30_000, interval: 200 })
      .toEqual(['while you were away', 'and after']);
    expect(bobCli.stderr).toMatch(/connection lost; reconnecting in \d+\.\d s \(attempt 1\)/);
    await expect.poll(() => bobCli.stderr, { timeout: 30_000, interval: 200 }).toContain('Reconnected.');
    aliceCli.endInput();
    bobCli.endInput();
    expect(await aliceCli.exited).toBe(0);
    expect(await bobCli.exited).toBe(0);
  }, 120_000);

  it('marks a message the server can never take as failed, and exits 1 once the rest are sent', async () => {
    const alice = uniqueUser('alice');
    const cli = new ChatCli(['--user', alice, '--to', uniqueUser('bob')]);

    cli.type('fine', 'x'.repeat(17_000), 'also fine');
    cli.endInput();

    expect(await cli.exited).toBe(1);
    expect(cli.stdout).toMatch(
      /^✗ not sent \(The message is too long: the limit is 16 KB of text\): x{39}…$/m,
    );
    expect(cli.stdout.match(/^✓ sent .*$/gm)).toEqual(['✓ sent (#1): fine', '✓ sent (#2): also fine']);
    expect(cli.stderr).toContain('2 of 3 messages sent; 1 failed.');
  }, 60_000);

  it('exits 1 saying in words that the conversation is not theirs when a user who is not a member joins', async () => {
    const owner = new ChatCli(['--user', uniqueUser('alice'), '--to', uniqueUser('bob')]);
    owner.endInput();
    expect(await owner.exited).toBe(0);

    const stranger = new ChatCli([
      '--user',
      uniqueUser('mallory'),
      '--conversation',
      String(owner.conversationId()),
    ]);
    stranger.type('let me in');

    expect(await stranger.exited).toBe(1);
    expect(stranger.stderr).toContain('This conversation does not exist or you are not in it.');
    expect(stranger.stderr).not.toContain('forbidden');
    expect(stranger.stdout).not.toContain('let me in');
  }, 60_000);

  it('prints the usage and exits 2 when it is not told whom to chat with', async () => {
    // Through npm, as the usage says to run it (the other sessions run the script's command).
    const env = { RUNTIME_STATE_FILE: stateFile() };
    const cli = new ChatCliProcess(['--user', uniqueUser('alice')], env, { viaNpm: true });

    expect(await cli.exited).toBe(2);
    expect(cli.stderr).toContain('Say whom to chat with: --to <ids> creates a conversation');
    expect(cli.stderr).toContain('Usage:\n  npm run chat -- --user <you> --to <member>');
  }, 30_000);

  it('says how to start the runtime when none is running', async () => {
    const cli = new ChatCli(['--user', uniqueUser('alice'), '--to', 'bob'], {
      RUNTIME_STATE_FILE: path.join(scratchDir(), 'none.json'),
    });
    cli.endInput();

    expect(await cli.exited).toBe(1);
    expect(cli.stderr).toContain('The local runtime is not running: start it with `npm start`');
  }, 30_000);
});
