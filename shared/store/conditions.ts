/** What a failed conditional write tells: the item as it stood, when the write asked for it. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/**
 * The item a failed conditional write returned (`ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`),
 * unmarshalled; undefined when there was no item. The document client leaves it marshalled.
 */
export function itemOfFailedCondition<T = Record<string, unknown>>(err: unknown): T | undefined {
  const returned = (err as { Item?: Record<string, AttributeValue> }).Item;
  return returned === undefined ? undefined : (unmarshall(returned) as T);
}
