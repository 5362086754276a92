/**
 * Many items of one table at once: batch gets and batch writes, with DynamoDB's unprocessed keys and
 * items retried the one way the project does it, and queries read to their last page.
 */
import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  paginateQuery,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { fullJitterDelay } from '../backoff';

/** BatchGetItem reads at most this many keys per call. */
const BATCH_GET_LIMIT = 100;
/** BatchWriteItem takes at most this many requests per call. */
const BATCH_WRITE_LIMIT = 25;
const MAX_ATTEMPTS = 5;
/** DynamoDB returns unprocessed keys and items when throttled; they are retried spaced out, as AWS advises. */
const UNPROCESSED_BACKOFF = { baseDelayMs: 50, maxDelayMs: 1_000 };

/** Waits before the retry that follows `failedAttempts` attempts which left work unprocessed. */
const backOff = (failedAttempts: number): Promise<void> =>
  new Promise((resolve) =>
    setTimeout(resolve, fullJitterDelay(failedAttempts, Math.random, UNPROCESSED_BACKOFF)),
  );

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
      if (attempt > 1) await backOff(attempt - 1);
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

/**
 * Sends every request of `requests` (puts and deletes) to one table, 25 per BatchWriteItem, retrying
 * unprocessed items with full-jitter backoff.
 * @throws Error when items stay unprocessed after every attempt.
 */
export async function batchWriteAll(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  requests: Record<string, unknown>[],
): Promise<void> {
  for (let start = 0; start < requests.length; start += BATCH_WRITE_LIMIT) {
    let pending = requests.slice(start, start + BATCH_WRITE_LIMIT);
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > MAX_ATTEMPTS) throw new Error(`BatchWrite on ${tableName} left unprocessed items`);
      if (attempt > 1) await backOff(attempt - 1);
      const { UnprocessedItems } = await ddb.send(
        new BatchWriteCommand({ RequestItems: { [tableName]: pending } }),
      );
      pending = UnprocessedItems?.[tableName] ?? [];
    }
  }
}

/**
 * The items of a Query, page after page until the last, in the order DynamoDB returns them. With
 * `limit`, each page asks for at most that many items and no page is read once that many are in hand.
 */
export async function queryAll(
  ddb: DynamoDBDocumentClient,
  input: QueryCommandInput,
  options: { limit?: number } = {},
): Promise<Record<string, unknown>[]> {
  const { limit } = options;
  const items: Record<string, unknown>[] = [];
  const pages = paginateQuery({ client: ddb, ...(limit === undefined ? {} : { pageSize: limit }) }, input);
  for await (const page of pages) {
    items.push(...(page.Items ?? []));
    if (limit !== undefined && items.length >= limit) break;
  }
  return items;
}
