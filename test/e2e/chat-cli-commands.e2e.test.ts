/**
 * The terminal client's lines as a person types them: a file keeps its place among the lines, a
 * mistyped command is refused, and being removed ends the chat in words.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { uniqueUser } from '../support/chat';
import { useLocalRuntime } from '../support/local-runtime';
import { ChatCli, killChatClisAfterEach, sdkClient } from './chat-cli-process';
import { letAnyoneAdd } from './helpers';

const { runtime, stateFile } = useLocalRuntime({ stateFile: true });
killChatClisAfterEach();
const cli = (args: string[]) => new ChatCli(args, { RUNTIME_STATE_FILE: stateFile() });
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

describe('npm run chat: lines as typed', () => {
  it('stores a picture attached with /attach before the line typed right after it', async () => {
    // Prepare
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    await letAnyoneAdd(runtime(), [bob]);
    const file = path.join(path.dirname(stateFile()), 'dot.png');
    writeFileSync(file, PNG);
    const chat = sdkClient(runtime(), bob);
    try {
      const aliceCli = cli(['--user', alice, '--to', bob]);
      await expect.poll(() => aliceCli.conversationId(), { timeout: 30_000, interval: 200 }).toBeDefined();
      const conversationId = String(aliceCli.conversationId());

      // Act: the two lines back to back, as in the issue.
      aliceCli.type(`/attach ${file} here is the picture`, 'see the picture above?');
      aliceCli.endInput();

      // Assess: the picture is #1 and the text #2, on the server and on screen.
      expect(await aliceCli.exited).toBe(0);
      const { messages } = await chat.history(conversationId);
      expect(messages.map((m) => [m.seq, m.body, m.attachment?.contentType])).toEqual([
        [1, 'here is the picture', 'image/png'],
        [2, 'see the picture above?', undefined],
      ]);
      expect(aliceCli.stdout.match(/^✓ sent .*$/gm)).toEqual([
        '✓ sent (#1): here is the picture',
        '✓ sent (#2): see the picture above?',
      ]);
      expect(aliceCli.stdout).toContain(`📎 dot.png (image/png, ${PNG.length} B): uploading…`);
      expect(aliceCli.stdout).toMatch(
        new RegExp(`\\[image/png ${PNG.length} B\\] conversations/${conversationId}/[0-9a-f-]{36}`),
      );
    } finally {
      chat.close();
    }
  }, 120_000);

  it('refuses an unknown command and lists the commands, sending nothing; // still sends a leading slash', async () => {
    // Prepare
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    await letAnyoneAdd(runtime(), [bob]);
    const aliceCli = cli(['--user', alice, '--to', bob]);

    // Act
    aliceCli.type('/foo bar', '//foo bar', '/help');
    aliceCli.endInput();

    // Assess
    expect(await aliceCli.exited).toBe(0);
    expect(aliceCli.stderr).toContain('There is no command /foo; nothing was sent. The commands:');
    expect(aliceCli.stderr).toContain('/attach <path> [text]');
    expect(aliceCli.stdout.match(/^✓ sent .*$/gm)).toEqual(['✓ sent (#1): /foo bar']);
    expect(aliceCli.stderr).toContain('1 of 1 messages sent.');
  }, 60_000);

  it('says who removed the user from which conversation, by name, and what to do next, and exits 1', async () => {
    // Prepare: bob follows a group of alice's in the terminal.
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const carol = uniqueUser('carol');
    await letAnyoneAdd(runtime(), [bob, carol]);
    const chat = sdkClient(runtime(), alice);
    try {
      const { conversationId } = await chat.createConversation([bob, carol]);
      const bobCli = cli(['--user', bob, '--conversation', conversationId]);
      await expect
        .poll(() => bobCli.stdout, { timeout: 30_000, interval: 200 })
        .toContain(`Conversation ${conversationId} joined: ${alice}, ${carol}`);

      // Act
      await chat.removeMember(conversationId, bob);

      // Assess
      expect(await bobCli.exited).toBe(1);
      expect(bobCli.stderr).toContain(`${alice} removed you from ${alice}, ${carol}.`);
      expect(bobCli.stderr).toContain(`Next: npm run chat -- --user ${bob} --to <members> starts another`);
      expect(`${bobCli.stdout}${bobCli.stderr}`).not.toContain('forbidden');
    } finally {
      chat.close();
    }
  }, 120_000);
});
