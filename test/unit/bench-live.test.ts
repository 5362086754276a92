/**
 * The live parts of `npm run bench` (bench/live.ts): their flags, and the arithmetic behind the numbers
 * they report (send-to-screen, frames per socket per second, seqs read out of batch frames).
 */
import { describe, expect, it } from 'vitest';
import { messageSeqs } from '../../bench/burst';
import { liveOptions } from '../../bench/live';
import { frameRates, sendToScreen } from '../../bench/live-measure';

describe('the live parts’ flags', () => {
  it('default to 30 s and a 250 ms tick, and leave the parts to the bench', () => {
    expect(liveOptions(['live-room'])).toEqual({
      options: { seconds: 30, tickMs: 250 },
      rest: ['live-room'],
    });
  });

  it('take --seconds and --tick wherever they stand', () => {
    const parsed = liveOptions(['--tick', '0', 'sustained-group', '--seconds', '5', 'live-room']);

    expect(parsed).toEqual({
      options: { seconds: 5, tickMs: 0 },
      rest: ['sustained-group', 'live-room'],
    });
  });

  it.each([
    [['--seconds', '0'], '--seconds takes a whole number from 1'],
    [['--seconds', '2.5'], '--seconds takes a whole number from 1'],
    [['--seconds'], '--seconds takes a whole number from 1'],
    [['--tick', '-1'], '--tick takes a whole number from 0'],
  ])('refuse %j before anything starts', (args, message) => {
    expect(() => liveOptions(args)).toThrow(message);
  });
});

describe('send-to-screen', () => {
  it('times every message at every receiver but its sender, and counts what never came', () => {
    // Prepare: a sends at 0 ms, b at 100 ms; c never holds b's message
    const shown: Record<string, (number | undefined)[]> = {
      a: [undefined, 400],
      b: [250, undefined],
      c: [300, undefined],
    };
    const sent = [
      { sender: 'a', at: 0 },
      { sender: 'b', at: 100 },
    ];

    // Act
    const result = sendToScreen(['a', 'b', 'c'], sent, (receiver, i) => shown[receiver]?.[i]);

    // Assess: b's own message is not timed at b
    expect(result).toEqual({ latencies: [300, 250, 300], missing: 1 });
  });
});

describe('frames per socket per second', () => {
  it('is the mean over the window and the busiest one-second bucket of any socket', () => {
    // Prepare: over 2 s, one socket gets 3 frames in its first second, the other 1 frame
    const arrivals = [[1_000, 1_100, 1_900, 5_000], [2_500]];

    // Act
    const rates = frameRates(arrivals, 1_000, 3_000);

    // Assess: 4 frames in the window, over 2 sockets and 2 s; the frame at 5 s is outside it
    expect(rates).toEqual({ mean: 1, busiestSecond: 3 });
  });
});

describe('the seqs a frame carries', () => {
  it('reads a batch in its order, leaving out other conversations and other pushes', () => {
    const frame = {
      type: 'batch',
      frames: [
        { type: 'message', conversationId: 'c1', seq: 4 },
        { type: 'typing', conversationId: 'c1' },
        { type: 'message', conversationId: 'c2', seq: 9 },
        { type: 'message', conversationId: 'c1', seq: 5 },
      ],
    };

    expect(messageSeqs(frame, 'c1')).toEqual([4, 5]);
    expect(messageSeqs({ type: 'message', conversationId: 'c1', seq: 7 }, 'c1')).toEqual([7]);
    expect(messageSeqs({ type: 'ack', requestId: 'r' }, 'c1')).toEqual([]);
  });
});
