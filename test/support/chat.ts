/** Steps that several end-to-end suites share and that assert, so they load vitest (unlike test/e2e/helpers.ts). */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { ChatClient } from '../e2e/chat-client';

/** A user id no other test uses, so tests on one runtime never see each other's conversations. */
export const uniqueUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;

/** A round trip on `client`: every frame posted to it before this call has arrived once it returns. */
export async function drain(client: ChatClient): Promise<void> {
  expect(await client.request({ action: 'ping' })).toMatchObject({ type: 'ack' });
}
