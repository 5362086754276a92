import { describe, expect, it } from 'vitest';
import { tableNamesFromEnv } from '../../shared/aws/table-names';
import { optionalEnv, requireEnv } from '../../shared/env';

describe('environment', () => {
  it('fails naming the variable when a required one is missing or empty', () => {
    expect(() => requireEnv('FANOUT_QUEUE_URL', {})).toThrow(/FANOUT_QUEUE_URL/);
    expect(() => requireEnv('FANOUT_QUEUE_URL', { FANOUT_QUEUE_URL: '' })).toThrow(/FANOUT_QUEUE_URL/);
  });

  it('returns a present value and treats an empty optional one as absent', () => {
    expect(requireEnv('A', { A: 'x' })).toBe('x');
    expect(optionalEnv('A', { A: '' })).toBeUndefined();
  });

  it('reads table names from their variables and names the first one missing', () => {
    expect(tableNamesFromEnv(['messages'], { MESSAGES_TABLE: 'm' })).toEqual({ messages: 'm' });
    expect(() => tableNamesFromEnv(['messages', 'connections'], { MESSAGES_TABLE: 'm' })).toThrow(
      /CONNECTIONS_TABLE/,
    );
  });
});
