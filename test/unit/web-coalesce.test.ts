import { describe, expect, it } from 'vitest';
import { coalesced } from '../../web/coalesce';

/** A read that stays open until its turn is resolved by the test. */
function heldReads() {
  const pending: Array<() => void> = [];
  let started = 0;
  const read = () =>
    new Promise<void>((resolve) => {
      started++;
      pending.push(resolve);
    });
  return { read, pending, started: () => started };
}

describe('coalesced', () => {
  it('turns a burst of asks during a read into one more read after it, never two at once', async () => {
    // Prepare
    const reads = heldReads();
    const refresh = coalesced(reads.read);

    // Act: five asks while the first read runs.
    const first = refresh();
    for (let n = 0; n < 5; n++) void refresh();
    const startedDuringFirst = reads.started();
    reads.pending.shift()?.();
    await first;
    await expect.poll(() => reads.started()).toBe(2);
    reads.pending.shift()?.();

    // Assess
    expect(startedDuringFirst).toBe(1);
    await expect.poll(() => reads.pending.length).toBe(0);
    expect(reads.started()).toBe(2);
  });

  it('reads at once when nothing runs', async () => {
    // Prepare
    const reads = heldReads();
    const refresh = coalesced(reads.read);

    // Act
    const one = refresh();
    reads.pending.shift()?.();
    await one;
    const two = refresh();

    // Assess
    expect(reads.started()).toBe(2);
    reads.pending.shift()?.();
    await two;
  });
});
