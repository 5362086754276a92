/**
 * The send function is outside the local admission line (local/functions.ts): its own admission gate
 * answers a burst `busy` at once, as on AWS; held in the line, a burst's frames waited past the clients'
 * resend timer and were resent while still queued. Every other function keeps its cap.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadFunctions } from '../../local/functions';
import { inFlight } from './fixtures/in-flight-handler';

const ROOT = path.join(__dirname, '..', '..');
const fixture = (description: string) => ({
  entry: 'test/local/fixtures/in-flight-handler.ts',
  description,
  tables: {},
  timeoutSeconds: 5,
});

describe('the local admission line', () => {
  it('runs every send at once and holds another function to its cap', async () => {
    // Prepare
    const functions = await loadFunctions(
      { send: fixture('stands for the send function'), other: fixture('any other function') },
      { root: ROOT, onLog: () => undefined, concurrency: 2 },
    );

    // Act
    await Promise.all([
      ...Array.from({ length: 8 }, () => functions.invoke('send', { key: 'send' })),
      ...Array.from({ length: 8 }, () => functions.invoke('other', { key: 'other' })),
    ]);

    // Assess
    expect(inFlight.peak.get('send')).toBe(8);
    expect(inFlight.peak.get('other')).toBe(2);
  });
});
