import { describe, expect, it } from 'vitest';
import { redriveInput } from '../../local/redrive';

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
      'Unknown option --dryrun; use --dry-run, --max N, --include-poison',
    );
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
