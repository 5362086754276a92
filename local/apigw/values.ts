/** Reading the unknown values that handlers return and throw. */

/** A plain object (not null, not an array), whose fields may be read. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a thrown value says, for a log line. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The status a Lambda proxy result stands for; a result without one counts as 200, as on AWS. */
export function statusOf(result: unknown): number {
  return isRecord(result) && typeof result.statusCode === 'number' ? result.statusCode : 200;
}
