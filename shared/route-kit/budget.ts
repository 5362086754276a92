/**
 * The per-user frame budgets: before a route runs, its frame takes one token from its user's bucket of
 * the action's cost class (shared/protocol/actions.ts), on the user's `USER#` item, so the budget holds
 * across execution environments (shared/store/connections/budgets.ts). It costs one UpdateItem per frame (two
 * when this environment guessed the bucket's state wrong); `free` actions pay nothing.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CostClass } from '../limits';
import { takeUserToken } from '../store/connections';
import { BucketHints } from '../store/gcra';
import type { TableNames } from '../tables';

/**
 * Takes one token of `costClass` from the user's budget.
 * @throws RateLimitedError (with `retryAfterMs`) when it is spent; nothing is written.
 */
export type UserBudget = (userId: string, costClass: CostClass, signal: AbortSignal) => Promise<void>;

/** The per-user budgets of a function, on the connections table; `now` is epoch ms. */
export function userBudgetOf(
  ddb: DynamoDBDocumentClient,
  tables: Pick<TableNames, 'connections'>,
  now: () => number = Date.now,
): UserBudget {
  const hints = new BucketHints();
  return (userId, costClass, signal) => takeUserToken(ddb, tables, hints, userId, costClass, now, signal);
}
