/**
 * The web chat page in a real browser (Debian's Chromium through playwright-core) against the local
 * runtime: two users in two browser contexts chat; one goes offline, sends, and comes back.
 */
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect } from '../../client';
import { LIMITS } from '../../shared/limits';
import { letAnyoneAdd } from '../e2e/helpers';
import { useLocalRuntime } from '../support/local-runtime';
import { createConversation, patiently, send, useBrowser } from './support';

const OUTPUT = path.join(__dirname, '..', '..', 'test-output');

const { runtime } = useLocalRuntime();
const { browser, pageProblems, signIn } = useBrowser(runtime);

beforeAll(async () => {
  await mkdir(OUTPUT, { recursive: true });
});

// Not a test of consent (membership.browser.test.ts is): the users these tests add to groups let anyone
// add them, so a group makes them members at once rather than inviting them.
beforeAll(() =>
  letAnyoneAdd(runtime(), ['bob', 'bob2', 'judy', 'lee', 'nia', 'xena', 'yuri', 'dave', 'heidi', 'frank']),
);

/** An 8×8 blue PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR4nGPQqLiDFTEMLQkA8eRfATA3bycAAAAASUVORK5CYII=',
  'base64',
);

async function goOffline(page: Page): Promise<void> {
  await page.context().setOffline(true);
  await expect.poll(() => page.locator('#connection').getAttribute('data-state'), patiently).not.toBe('open');
}

/** The message list as rendered, top to bottom: `seq sender: body`. */
function transcript(page: Page): Promise<string[]> {
  return page
    .locator('#messages > li')
    .evaluateAll((rows) =>
      rows.map(
        (row) => `${row.dataset.seq} ${row.dataset.sender}: ${row.querySelector('.body')?.textContent}`,
      ),
    );
}

/** The conversation as the server stores it, read through the SDK. */
async function storedTranscript(userId: string, conversationId: string): Promise<string[]> {
  const reader = connect({
    url: runtime().webSocketUrl,
    tokenProvider: () => runtime().issueToken(userId),
    WebSocket,
  });
  try {
    const page = await reader.history(conversationId, { limit: LIMITS.maxPageSize });
    return page.messages.flatMap((m) => ('tombstone' in m ? [] : [`${m.seq} ${m.senderId}: ${m.body}`]));
  } finally {
    reader.close();
  }
}

/** Runs `act` with an SDK client of `userId`, for what the page offers no control for. */
async function asUser<T>(userId: string, act: (chat: ReturnType<typeof connect>) => Promise<T>): Promise<T> {
  const chat = connect({
    url: runtime().webSocketUrl,
    tokenProvider: () => runtime().issueToken(userId),
    WebSocket,
  });
  try {
    return await act(chat);
  } finally {
    chat.close();
  }
}

/** One screenshot of several pages next to each other, composed by the browser itself. */
async function sideBySide(pages: Page[], file: string): Promise<void> {
  const gap = 8;
  const sizes = pages.map((page) => page.viewportSize() ?? { width: 0, height: 0 });
  const shots = await Promise.all(pages.map((page) => page.screenshot()));
  const sheet = await browser().newPage({
    viewport: {
      width: sizes.reduce((sum, size) => sum + size.width, gap * (pages.length - 1)),
      height: Math.max(...sizes.map((size) => size.height)),
    },
  });
  await sheet.setContent(
    `<body style="margin:0;display:flex;gap:${gap}px;background:#9aa0a6">${shots
      .map((shot) => `<img style="flex:none" src="data:image/png;base64,${shot.toString('base64')}">`)
      .join('')}</body>`,
  );
  await sheet.screenshot({ path: file });
  await sheet.close();
}

/** Types one more character into `typist`'s message box, then reads `watcher`'s typing line. */
let typed = 0;
async function keepTyping(typist: Page, watcher: Page, text: string): Promise<string | null> {
  typed++;
  await typist.getByLabel('Message', { exact: true }).fill(`${text}${'.'.repeat(typed % 3)}`);
  return watcher.locator('#typing').textContent();
}

describe('the web chat page', () => {
  it('keeps two users in step when one goes offline, sends, and comes back', async () => {
    // Prepare: alice creates a conversation with bob; bob finds it in his list.
    const alice = await signIn('alice');
    const conversationId = await createConversation(alice, 'bob', 'Lunch 🍜');
    const bob = await signIn('bob');
    await bob.locator('#conversation-list button', { hasText: 'Lunch 🍜' }).click();
    await bob.locator('#conversation-id', { hasText: conversationId }).waitFor();

    // Act 1: both online.
    await send(alice, 'hi bob 👋');
    await bob.locator('#messages > li[data-seq="1"]').waitFor();
    await send(bob, 'שלום alice 🙂');
    await alice.locator('#messages > li[data-seq="2"]').waitFor();

    // Act 2: bob goes offline and sends; alice sends meanwhile.
    await goOffline(bob);
    await send(bob, 'sent while offline 📴');
    const offlineMessage = bob.locator('#outbox > li', { hasText: 'sent while offline 📴' });
    await send(alice, 'are you there? 👀');
    await alice.locator('#messages > li[data-seq="3"][data-status="sent"]').waitFor();

    // Assess 2: bob's message waits in his outbox, and alice's has not reached him.
    expect(await offlineMessage.getAttribute('data-status')).toBe('pending');
    expect(await bob.locator('#connection-text').textContent()).toContain('offline, waiting for the network');
    expect(await transcript(bob)).toHaveLength(2);

    // Act 3: bob comes back.
    await bob.context().setOffline(false);

    // Assess 3: his message is delivered and both show the server's transcript, in seq order.
    const expected = [
      '1 alice: hi bob 👋',
      '2 bob: שלום alice 🙂',
      '3 alice: are you there? 👀',
      '4 bob: sent while offline 📴',
    ];
    await expect.poll(() => transcript(bob), patiently).toEqual(expected);
    await expect.poll(() => transcript(alice), patiently).toEqual(expected);
    expect(await bob.locator('#outbox > li').count()).toBe(0);
    expect(await bob.locator('#messages > li[data-seq="4"]').getAttribute('data-status')).toBe('sent');
    expect(Number(await bob.locator('#connection').getAttribute('data-reconnects'))).toBeGreaterThanOrEqual(
      1,
    );
    expect(await storedTranscript('alice', conversationId)).toEqual(expected);

    await sideBySide([alice, bob], path.join(OUTPUT, 'chat.png'));
    await bob.setViewportSize({ width: 390, height: 760 });
    await bob.screenshot({ path: path.join(OUTPUT, 'chat-narrow.png') });
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('shows the other user unread counts, typing, presence, edits and deletes', async () => {
    // Prepare: alice writes twice before bob signs in.
    const alice = await signIn('alice2');
    await createConversation(alice, 'bob2', 'Plans 📅');
    await send(alice, 'lunch at 12?');
    await send(alice, 'or at 1');
    await alice.locator('#messages > li[data-seq="2"][data-status="sent"]').waitFor();
    const bob = await signIn('bob2');
    const plans = bob.locator('#conversation-list button', { hasText: 'Plans 📅' });

    // Assess: bob's list counts both as unread; opening the conversation reads them, on the server too.
    await plans.locator('.unread', { hasText: '2' }).waitFor();
    await plans.click();
    await bob.locator('#messages > li[data-seq="2"]').waitFor();
    await expect.poll(() => plans.locator('.unread').count(), patiently).toBe(0);
    // Receipts: bob's read is pushed to alice, who sees her messages marked seen by him.
    await alice.locator('#messages > li[data-seq="2"] .seen', { hasText: 'seen by bob2' }).waitFor();
    await bob.getByRole('button', { name: 'Refresh' }).click();
    await bob.locator('#conversation-list button', { hasText: 'Plans 📅' }).waitFor();
    await expect.poll(() => plans.locator('.unread').count(), patiently).toBe(0);

    // Presence: each sees the other online (bob asked on opening; alice heard bob's subscribe announced).
    await bob.locator('#conversation-presence .member[data-user="alice2"][data-online="true"]').waitFor();
    await alice.locator('#conversation-presence .member[data-user="bob2"][data-online="true"]').waitFor();

    // Typing: alice keeps typing, bob sees it. Typing is announced at most once per 3 s (her sends above
    // were typed too), so she types on until one gets through, as a person would.
    await expect.poll(() => keepTyping(alice, bob, 'let me ch'), patiently).toBe('alice2 is typing…');

    // Edit: alice edits her first message; bob sees the new body marked edited.
    alice.once('dialog', (dialog) => void dialog.accept('lunch at 12:30?'));
    await alice.locator('#messages > li[data-seq="1"]').getByRole('button', { name: 'Edit' }).click();
    const edited = bob.locator('#messages > li[data-seq="1"][data-edited="true"]');
    await edited.waitFor();
    expect(await edited.locator('.body').textContent()).toBe('lunch at 12:30?');
    expect(await edited.locator('.edited').textContent()).toBe('edited');

    // Delete: alice deletes her second message; bob sees it marked deleted.
    alice.once('dialog', (dialog) => void dialog.accept());
    await alice.locator('#messages > li[data-seq="2"]').getByRole('button', { name: 'Delete' }).click();
    await bob.locator('#messages > li[data-seq="2"][data-deleted="true"]').waitFor();
    expect(await bob.locator('#messages > li[data-seq="2"] .body').textContent()).toBe('message deleted');

    // Direct: alice messages bob directly; bob's list shows it unread, named after alice.
    await alice.getByLabel('Message a user (direct)').fill('bob2');
    await alice.getByRole('button', { name: 'Message', exact: true }).click();
    await alice.locator('#conversation-title', { hasText: 'bob2' }).waitFor();
    await send(alice, 'psst 🤫');
    await alice.locator('#messages > li[data-seq="1"][data-status="sent"]').waitFor();
    await alice.locator('#conversation-list button', { hasText: 'Plans 📅' }).click();
    await bob.getByRole('button', { name: 'Refresh' }).click();
    const direct = bob.locator('#conversation-list button', { hasText: 'alice2' });
    await direct.locator('.unread', { hasText: '1' }).waitFor();

    // The screenshot: alice typing again, bob seeing it, the edit, the delete and the unread direct chat.
    await alice.locator('#messages > li[data-seq="2"][data-deleted="true"]').waitFor();
    await alice.locator('#messages > li[data-seq="1"] .seen', { hasText: 'seen by bob2' }).waitFor();
    await expect.poll(() => keepTyping(alice, bob, 'see you there'), patiently).toBe('alice2 is typing…');
    await sideBySide([alice, bob], path.join(OUTPUT, 'chat-features.png'));
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('sends an image that the other member sees inline, and a PDF as a link; receipts say seen', async () => {
    // Prepare: alice and bob in one conversation.
    const alice = await signIn('ivan');
    await createConversation(alice, 'judy', 'Photos');
    const bob = await signIn('judy');
    await bob.locator('#conversation-list button', { hasText: 'Photos' }).click();
    await bob.locator('#conversation-id:not(:empty)').waitFor();

    // Act: alice attaches a PNG and a PDF through the file input.
    await alice
      .locator('#attach-input')
      .setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: PNG });
    await alice.locator('#messages > li[data-seq="1"][data-status="sent"]').waitFor();
    const pdf = Buffer.from('%PDF-1.4\n%%EOF\n');
    await alice
      .locator('#attach-input')
      .setInputFiles({ name: 'notes.pdf', mimeType: 'application/pdf', buffer: pdf });
    await alice.locator('#messages > li[data-seq="2"][data-status="sent"]').waitFor();

    // Assess: bob sees the image loaded (from the bucket, through a download URL) and the PDF as a link.
    const image = bob.locator('#messages > li[data-seq="1"] img.attachment-image');
    await expect
      .poll(
        () =>
          image.evaluate((img) =>
            (img as { complete: boolean; naturalWidth: number }).complete
              ? (img as { naturalWidth: number }).naturalWidth
              : 0,
          ),
        patiently,
      )
      .toBeGreaterThan(0);
    expect(await bob.locator('#messages > li[data-seq="1"] .body').textContent()).toBe('dot.png');
    const link = bob.locator('#messages > li[data-seq="2"] a.attachment-link');
    await expect
      .poll(() => link.getAttribute('href'), patiently)
      .toMatch(/^http:\/\/.*\.s3\.localhost:\d+\//);
    expect(await link.textContent()).toBe(`Download (application/pdf, ${pdf.length} B)`);
    // bob read both: alice sees them seen.
    await alice.locator('#messages > li[data-seq="2"] .seen', { hasText: 'seen by judy' }).waitFor();
    await alice.locator('#messages > li[data-seq="1"] .seen', { hasText: 'seen by judy' }).waitFor();

    // Leave: bob leaves; the conversation goes from his list, and alice's next message does not reach him.
    bob.once('dialog', (dialog) => void dialog.accept());
    await bob.getByRole('button', { name: 'Leave' }).click();
    await expect
      .poll(() => bob.locator('#conversation-list button', { hasText: 'Photos' }).count(), patiently)
      .toBe(0);
    expect(pageProblems).toEqual([]);
  }, 60_000);

  it('shows membership changes, live unread counts of other conversations, and receipts after a reload', async () => {
    // Prepare: kim has two conversations with lee; lee has one of them open.
    const kim = await signIn('kim');
    await createConversation(kim, 'lee', 'Elsewhere 🗂');
    await createConversation(kim, 'lee', 'Team 🧩');
    await kim.locator('#conversation-title', { hasText: 'Team 🧩' }).waitFor();
    const teamId = (await kim.locator('#conversation-id').textContent()) ?? '';
    const lee = await signIn('lee');
    await lee.locator('#conversation-list button', { hasText: 'Team 🧩' }).click();
    await lee.locator('#conversation-id', { hasText: teamId }).waitFor();
    const elsewhere = lee.locator('#conversation-list button', { hasText: 'Elsewhere 🗂' });
    await elsewhere.waitFor();
    expect(await elsewhere.locator('.unread').count()).toBe(0);

    // Receipts: lee reads kim's message; kim's page, reloaded, still says so (from the presence answer).
    await send(kim, 'hello team');
    await lee.locator('#messages > li[data-seq="1"]').waitFor();
    await kim.locator('#messages > li[data-seq="1"] .seen', { hasText: 'seen by lee' }).waitFor();
    await kim.reload();
    await kim.locator('#conversation-id', { hasText: teamId }).waitFor();
    await kim.locator('#messages > li[data-seq="1"] .seen', { hasText: 'seen by lee' }).waitFor();

    // Membership: kim adds nia from another device (an SDK client), then nia leaves.
    await asUser('kim', (chat) => chat.addMembers(teamId, ['nia']));
    await lee
      .locator('#messages > li.system[data-kind="member_added"]', { hasText: 'kim added nia' })
      .waitFor();
    await lee.locator('#conversation-presence .member[data-user="nia"]').waitFor();
    await kim
      .locator('#messages > li.system[data-kind="member_added"]', { hasText: 'you added nia' })
      .waitFor();
    await asUser('nia', (chat) => chat.leave(teamId));
    await lee.locator('#messages > li.system[data-kind="member_left"]', { hasText: 'nia left' }).waitFor();
    await expect
      .poll(() => lee.locator('#conversation-presence .member[data-user="nia"]').count(), patiently)
      .toBe(0);

    // Live list: kim writes in the conversation lee does not have open; lee's badge counts it at once,
    // and its preview line shows the newest message.
    await kim.locator('#conversation-list button', { hasText: 'Elsewhere 🗂' }).click();
    await send(kim, 'over here');
    await send(kim, 'and here');
    await elsewhere.locator('.unread', { hasText: '2' }).waitFor();
    expect(await elsewhere.locator('.preview').textContent()).toBe('kim: and here');
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('adds and removes members from the header: a plain member is refused a removal, the creator is not', async () => {
    // Prepare: wade creates a group with xena, who opens it; yuri is signed in and not a member yet.
    const wade = await signIn('wade');
    await createConversation(wade, 'xena', 'Crew 🛠');
    const xena = await signIn('xena');
    await xena.locator('#conversation-list button', { hasText: 'Crew 🛠' }).click();
    await xena.locator('#conversation-title', { hasText: 'Crew 🛠' }).waitFor();
    const yuri = await signIn('yuri');
    const crewOnYuri = yuri.locator('#conversation-list button', { hasText: 'Crew 🛠' });
    const addField = wade.getByLabel('Add people (user ids, comma-separated)');

    // Act 1: wade adds yuri in the Members panel.
    await wade.getByRole('button', { name: 'Members' }).click();
    await addField.fill('yuri');
    await wade.getByRole('button', { name: 'Add', exact: true }).click();

    // Assess 1: both members see the line, xena's member list follows it, and yuri's list has the
    // conversation at once (no Refresh): yuri opens it and sees who added him.
    await wade
      .locator('#messages > li.system[data-kind="member_added"]', { hasText: 'you added yuri' })
      .waitFor();
    await xena
      .locator('#messages > li.system[data-kind="member_added"]', { hasText: 'wade added yuri' })
      .waitFor();
    await expect.poll(() => addField.inputValue(), patiently).toBe('');
    await xena.getByRole('button', { name: 'Members' }).click();
    await xena.locator('#member-list li[data-user="yuri"]').waitFor();
    await crewOnYuri.click();
    await yuri
      .locator('#messages > li.system[data-kind="member_added"]', { hasText: 'wade added you' })
      .waitFor();

    // Act 2: xena, a plain member, tries to remove yuri.
    xena.once('dialog', (dialog) => void dialog.accept());
    await xena.getByRole('button', { name: 'Remove yuri' }).click();

    // Assess 2: the server's refusal is shown as text, and yuri stays.
    await xena
      .locator('#conversation-error', { hasText: 'Only an admin of this conversation can remove members.' })
      .waitFor();
    expect(await xena.locator('#conversation-error > *').count()).toBe(0);
    expect(await xena.locator('#member-list li[data-user="yuri"]').count()).toBe(1);
    await sideBySide([wade, xena], path.join(OUTPUT, 'chat-members.png'));

    // Act 3: wade, the creator, removes yuri.
    wade.once('dialog', (dialog) => void dialog.accept());
    await wade.getByRole('button', { name: 'Remove yuri' }).click();

    // Assess 3: the line on every page, yuri off both member lists; yuri's page says he was removed,
    // takes the conversation off his list and lets him send nothing more there.
    await wade
      .locator('#messages > li.system[data-kind="member_removed"]', { hasText: 'you removed yuri' })
      .waitFor();
    await xena
      .locator('#messages > li.system[data-kind="member_removed"]', { hasText: 'wade removed yuri' })
      .waitFor();
    for (const page of [wade, xena])
      await expect.poll(() => page.locator('#member-list li[data-user="yuri"]').count(), patiently).toBe(0);
    await yuri
      .locator('#messages > li.system[data-kind="member_removed"]', { hasText: 'wade removed you' })
      .waitFor();
    await yuri
      .locator('#conversation-error', { hasText: 'wade removed you from this conversation.' })
      .waitFor();
    expect(await yuri.getByLabel('Message', { exact: true }).isDisabled()).toBe(true);
    expect(await yuri.getByRole('button', { name: 'Leave' }).count()).toBe(0);
    await expect.poll(() => crewOnYuri.count(), patiently).toBe(0);

    // Direct: a direct conversation has no member controls, and nobody leaves it.
    await wade.getByLabel('Message a user (direct)').fill('xena');
    await wade.getByRole('button', { name: 'Message', exact: true }).click();
    await wade.locator('#conversation-title', { hasText: 'xena' }).waitFor();
    expect(await wade.getByRole('button', { name: 'Members' }).count()).toBe(0);
    expect(await wade.getByRole('button', { name: 'Leave' }).count()).toBe(0);
    expect(await wade.locator('#members-panel').isHidden()).toBe(true);
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('shows a message the server can never accept as failed, and discards it', async () => {
    // Prepare
    const carol = await signIn('carol');
    await createConversation(carol, 'dave');

    // Act: a body one byte over the limit is refused by the SDK before it is sent.
    await send(carol, 'x'.repeat(LIMITS.maxBodyBytes + 1));
    const failed = carol.locator('#outbox > li[data-status="failed"]');

    // Assess
    expect(await failed.locator('.state').textContent()).toContain('failed');
    await failed.getByRole('button', { name: 'Discard' }).click();
    await expect.poll(() => carol.locator('#outbox > li').count(), patiently).toBe(0);
    expect(await transcript(carol)).toEqual([]);
    expect(pageProblems).toEqual([]);
  }, 60_000);

  it('shows titles and bodies as text, never as markup', async () => {
    // Prepare
    const markup = '<img src="x" onerror="document.title=\'pwned\'"><b>bold?</b>';
    const grace = await signIn('grace');
    await createConversation(grace, 'heidi', markup);

    // Act
    await send(grace, markup);
    await grace.locator('#messages > li[data-seq="1"]').waitFor();

    // Assess
    expect(await grace.locator('#conversation-title').textContent()).toBe(markup);
    expect(await transcript(grace)).toEqual([`1 grace: ${markup}`]);
    expect(await grace.locator('main img, main b').count()).toBe(0);
    expect(await grace.title()).toBe('serverless-chat');
  }, 60_000);

  it('sends a message typed offline once the user opens the page again, after closing the tab', async () => {
    // Prepare: the message waits in the outbox when the tab is closed.
    const erin = await signIn('erin');
    const conversationId = await createConversation(erin, 'frank');
    await goOffline(erin);
    await send(erin, 'typed offline, tab closed 💾');
    await erin.locator('#outbox > li[data-status="pending"]').waitFor();
    const context = erin.context();
    await erin.close();

    // Act: online again, a new tab of the same browser profile, signed in as the same user.
    await context.setOffline(false);
    const reopened = await signIn('erin', context);

    // Assess: the page reopens the conversation and the outbox sends the message, once.
    const expected = ['1 erin: typed offline, tab closed 💾'];
    await expect.poll(() => transcript(reopened), patiently).toEqual(expected);
    expect(await storedTranscript('erin', conversationId)).toEqual(expected);
    expect(pageProblems).toEqual([]);
  }, 60_000);

  it('keeps nothing of a user who signs out: no unsent body, draft or conversation in storage', async () => {
    // Prepare: ivan's message waits in the outbox while he is offline, and he has typed another.
    const ivan = await signIn('ivan');
    await createConversation(ivan, 'judy', 'Secret plans');
    await goOffline(ivan);
    await send(ivan, 'unsent secret 🤫');
    await ivan.locator('#outbox > li[data-status="pending"]').waitFor();
    await ivan.getByLabel('Message', { exact: true }).fill('a draft');
    // An expression, since the page's globals are not in this Node program's types.
    const storage = () =>
      ivan.evaluate<string>('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })');
    const before = await storage();

    // Act
    await ivan.getByRole('button', { name: 'Sign out' }).click();

    // Assess: the storage held the body until then, and holds nothing of ivan's now.
    expect(before).toContain('unsent secret 🤫');
    const after = await storage();
    expect(after).not.toContain('unsent secret');
    expect(after).not.toContain('Secret plans');
    expect(after).not.toContain('ivan');
    expect(await ivan.getByLabel('Message', { exact: true }).inputValue()).toBe('');
    expect(pageProblems).toEqual([]);
  }, 60_000);
});
