/**
 * The web page's consent controls in a real browser against the local runtime: "who can add me",
 * an invitation accepted from the sidebar, and the Block button of a direct conversation.
 */
import { describe, expect, it } from 'vitest';
import { useLocalRuntime } from '../support/local-runtime';
import { patiently, useBrowser } from './support';

const { runtime } = useLocalRuntime();
const { signIn: pageOf, clientOf } = useBrowser(runtime);

describe('consent on the web page', () => {
  it("invites by default: a stranger's group tells its creator whom it invited, and the invitee accepts from the sidebar and answers", async () => {
    // Prepare: the README's quick start, two users who share no group and chose nothing.
    const rue = await pageOf('rue');
    const sid = await pageOf('sid');
    try {
      // Act: rue creates a group with sid on her page.
      await rue.getByLabel('Members (user ids, comma-separated)').fill('sid');
      await rue.getByLabel('Title (optional)').fill('Hello');
      await rue.getByRole('button', { name: 'Create' }).click();
      const invitation = sid
        .locator('#invitation-list li')
        .filter({ hasText: 'rue invited you to Hello' })
        .first();
      await invitation.getByRole('button', { name: 'Accept' }).click();
      await expect.poll(() => sid.locator('#conversation-title').textContent(), patiently).toBe('Hello');
      await sid.getByLabel('Message', { exact: true }).fill('hi rue');
      await sid.getByLabel('Message', { exact: true }).press('Enter');

      // Assess
      await expect
        .poll(() => rue.locator('#conversation-error').textContent(), patiently)
        .toBe('Invited (they accept or decline): sid');
      expect(await sid.getByLabel('Who can add me to groups').inputValue()).toBe('contacts');
      await expect
        .poll(() => rue.locator('#messages > li .body').allTextContents(), patiently)
        .toContain('hi rue');
    } finally {
      await rue.context().close();
      await sid.context().close();
    }
  });

  it('lets a user be invited rather than added, accept from the sidebar, and block the other user of a direct conversation', async () => {
    // Prepare
    const page = await pageOf('pia');
    const quin = clientOf('quin');
    const piaElsewhere = clientOf('pia');
    try {
      // Act: pia lets nobody add her; quin's group then invites her.
      await page.getByLabel('Who can add me to groups').selectOption('nobody');
      await expect
        .poll(async () => (await piaElsewhere.request('listBlocked', {})).whoCanAdd, patiently)
        .toBe('nobody');
      const group = await quin.createConversation(['pia'], 'Picnic');
      expect(group.invited).toEqual(['pia']);
      const invitation = page
        .locator('#invitation-list li')
        .filter({ hasText: 'quin invited you to Picnic' })
        .first();
      await invitation.getByRole('button', { name: 'Accept' }).click();

      // Assess: the group is open on her page, and she is a member.
      await expect.poll(() => page.locator('#conversation-title').textContent(), patiently).toBe('Picnic');

      // Act: pia opens a direct conversation with quin and blocks him there.
      await page.getByLabel('Message a user (direct)').fill('quin');
      await page.getByRole('button', { name: 'Message', exact: true }).click();
      await page.locator('#block-direct:not([hidden])').waitFor();
      page.once('dialog', (dialog) => void dialog.accept());
      await page.locator('#block-direct').click();

      // Assess: quin can no longer add pia to a group.
      await expect
        .poll(() => page.locator('#conversation-error').textContent(), patiently)
        .toBe('You blocked quin');
      await expect(quin.createConversation(['pia'])).rejects.toMatchObject({ code: 'forbidden' });
    } finally {
      quin.close();
      piaElsewhere.close();
      await page.context().close();
    }
  });
});
