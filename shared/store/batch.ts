/** Batch reads of one table, with DynamoDB's unprocessed keys retried the one way the project does it. */
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { fullJitterDelay } from '../backoff';

/** BatchGetItem reads at most this many keys per call. */
const BATCH_GET_LIMIT = 100;
const MAX_ATTEMPTS = 5;
/** DynamoDB returns unprocessed keys when throttled; they are retried spaced out, as AWS advises. */
const UNPROCESSED_BACKOFF = { baseDelayMs: 50, maxDelayMs: 1_000 };

/**
 * Reads every key of `keys` from one table, 100 per BatchGetItem, retrying unprocessed keys with
 * full-jitter backoff. Items come back in no particular order; missing items are simply absent.
 * @throws Error when keys stay unprocessed after every attempt.
 */
export async function batchGetAll(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  keys: Record<string, unknown>[],
  options: { consistentRead?: boolean; projection?: string } = {},
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for (let start = 0; start < keys.length; start += BATCH_GET_LIMIT) {
    let pending = keys.slice(start, start + BATCH_GET_LIMIT);
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > MAX_ATTEMPTS) throw new Error(`BatchGetItem on ${tableName} left keys unprocessed`);
      if (attempt > 1) {
        const delay = fullJitterDelay(attempt - 1, Math.random, UNPROCESSED_BACKOFF);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
      const { Responses, UnprocessedKeys } = await ddb.send(
        new BatchGetCommand({
          RequestItems: {
            [tableName]: {
              Keys: pending,
              ...(options.consistentRead ? { ConsistentRead: true } : {}),
              ...(options.projection === undefined ? {} : { ProjectionExpression: options.projection }),
            },
          },
        }),
      );
      items.push(...(Responses?.[tableName] ?? []));
      pending = UnprocessedKeys?.[tableName]?.Keys ?? [];
    }
  }
  return items;
}
