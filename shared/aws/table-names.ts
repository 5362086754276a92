/** The physical table names a function is given, read once at cold start. No SDK package is loaded here. */
import { requireEnv } from '../env';
import { TABLE_ENV, type TableName, type TableNames } from '../tables';

/** Reads the physical names of the given tables from the environment; fails naming a missing variable. */
export function tableNamesFromEnv<T extends TableName>(
  names: readonly T[],
  env: NodeJS.ProcessEnv = process.env,
): Pick<TableNames, T> {
  const result = {} as Pick<TableNames, T>;
  for (const name of names) result[name] = requireEnv(TABLE_ENV[name], env);
  return result;
}
