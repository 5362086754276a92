import { describe, expect, it } from 'vitest';
import { redriveInput, redriveRuns } from '../../local/redrive';

describe('redriveInput', () => {
  it('turns no flags into an empty input, so the function applies its defaults', () => {
    expect(redriveInput([])).toEqual({});
  });

  it('turns each flag into the field the redrive function reads', () => {
    const input = redriveInput(['--dry-run', '--max', '25', '--include-poison']);

    expect(input).toEqual({ dryRun: true, maxMessages: 25, includePoison: true });
  });

  it('refuses an unknown flag and lists the ones it knows', () => {
    expect(() => redriveInput(['--dryrun'])).toThrow(
      'Unknown option --dryrun; use --queue fanout|shards, --dry-run, --max N, --include-poison',
    );
  });

  it('names the dead-letter queue --queue picks: the fan-out DLQ or the shard DLQ', () => {
    expect(redriveInput(['--queue', 'shards', '--dry-run'])).toEqual({ queue: 'shards', dryRun: true });
    expect(redriveInput(['--queue', 'fanout'])).toEqual({ queue: 'fanout' });
  });

  it.each([
    ['another name', ['--queue', 'dlq']],
    ['nothing', ['--queue']],
  ])('refuses --queue followed by %s', (_, args) => {
    expect(() => redriveInput(args)).toThrow('--queue takes fanout or shards');
  });

  it.each([
    ['zero', ['--max', '0']],
    ['a fraction', ['--max', '2.5']],
    ['a word', ['--max', 'lots']],
    ['nothing', ['--max']],
  ])('refuses --max followed by %s', (_, args) => {
    expect(() => redriveInput(args)).toThrow('--max takes a whole number of letters');
  });
});

describe('redriveRuns', () => {
  it('redrives both dead-letter queues when no --queue is given, the fan-out DLQ first, each with the same flags', () => {
    expect(redriveRuns(redriveInput(['--max', '5']))).toEqual([
      { queue: 'fanout', maxMessages: 5 },
      { queue: 'shards', maxMessages: 5 },
    ]);
  });

  it('redrives only the queue --queue names', () => {
    expect(redriveRuns(redriveInput(['--queue', 'shards']))).toEqual([{ queue: 'shards' }]);
  });
});
