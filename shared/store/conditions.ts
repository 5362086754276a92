/** Conditional writes whose failed condition is an answer, not an error: what it tells, and the item as it stood. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isAwsError } from '../errors';

/**
 * The item a failed conditional write returned (`ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`),
 * unmarshalled; undefined when there was no item. The document client leaves it marshalled.
 */
export function itemOfFailedCondition<T = Record<string, unknown>>(err: unknown): T | undefined {
  const returned = (err as { Item?: Record<string, AttributeValue> }).Item;
  return returned === undefined ? undefined : (unmarshall(returned) as T);
}

/** What a conditional update did: applied, or refused with the item as it stood (see {@link updateIf}). */
export type UpdateOutcome = { applied: true } | { applied: false; item: Record<string, unknown> | undefined };

/**
 * Sends one conditional UpdateItem. A failed condition comes back as `applied: false` with the item as
 * it stood when the input asks for `ReturnValuesOnConditionCheckFailure: 'ALL_OLD'` (undefined when
 * there was no item, or the input did not ask); any other failure is thrown.
 */
export async function updateIf(
  ddb: DynamoDBDocumentClient,
  input: UpdateCommandInput,
  signal?: AbortSignal,
): Promise<UpdateOutcome> {
  try {
    await ddb.send(new UpdateCommand(input), signal === undefined ? undefined : { abortSignal: signal });
    return { applied: true };
  } catch (err: unknown) {
    if (!isAwsError(err, 'ConditionalCheckFailedException')) throw err;
    return { applied: false, item: itemOfFailedCondition(err) };
  }
}
