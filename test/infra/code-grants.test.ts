/**
 * The grants of lib/wiring.ts match the code: each function's code (its entry file and every store
 * function it reaches) sends exactly the DynamoDB actions its wiring grants, table by table and index by
 * index. DynamoDB Local checks no IAM, so without this a new command would pass every local test and
 * be refused on AWS; and a grant the code no longer uses would stay.
 */
import { describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionName, type TableGrant } from '../../lib/wiring';
import type { TableName } from '../../shared/tables';
import { codeActions } from './code-actions';

const functionNames = Object.keys(FUNCTIONS) as FunctionName[];

function declared(name: FunctionName): Record<string, string[]> {
  const grants: Record<string, string[]> = {};
  for (const [table, grant] of Object.entries(FUNCTIONS[name].tables) as [TableName, TableGrant][]) {
    if (grant.actions.length > 0) grants[table] = [...grant.actions].sort();
    for (const index of grant.queryIndexes ?? []) grants[`${table}/index/${index}`] = ['Query'];
  }
  return grants;
}

describe('DynamoDB grants against the code', () => {
  it('finds the commands of the store functions an entry calls, with the tables its calls name', () => {
    const { grants, untold } = codeActions('test/infra/fixtures/grants-entry.ts');

    expect(grants).toEqual({ conversations: ['GetItem'], messages: ['Query'] });
    expect(untold).toEqual(['Query in shared/store/batch.ts#queryAll']);
  });

  it.each(functionNames)(
    '%s sends exactly the actions lib/wiring.ts grants it, per table and index',
    (name) => {
      const { grants, untold } = codeActions(FUNCTIONS[name].entry);

      expect(untold, 'commands whose table the code does not name as tables.<name>').toEqual([]);
      expect(
        grants,
        `what the code sends (received) against FUNCTIONS.${name}.tables in lib/wiring.ts`,
      ).toEqual(declared(name));
    },
  );
});
