/**
 * A user's frame budgets: one GCRA bucket per cost class (`tat_<class>`, ../gcra.ts) on their
 * `USER#<userId>` item in the connections table, the item that holds their connection slots (./slots.ts).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { RateLimitedError } from '../../errors';
import { type CostClass, LIMITS } from '../../limits';
import type { TableNames } from '../../tables';
import { type BucketHints, takeToken } from '../gcra';
import { userKey } from './slots';

type Tables = Pick<TableNames, 'connections'>;

/**
 * Takes one token from the user's budget of `costClass` (LIMITS.userBudgets): one UpdateItem of the
 * user's item when this environment guesses the bucket's state right, two when not.
 * @throws RateLimitedError when the budget is spent; nothing is written.
 * @throws BusyError when concurrent frames of the user kept changing the bucket's state.
 */
export async function takeUserToken(
  ddb: DynamoDBDocumentClient,
  tables: Tables,
  hints: BucketHints,
  userId: string,
  costClass: CostClass,
  now: () => number,
  signal: AbortSignal,
): Promise<void> {
  const { perSecond, burst } = LIMITS.userBudgets[costClass];
  const intervalMs = 1_000 / perSecond;
  await takeToken(
    ddb,
    {
      tableName: tables.connections,
      key: userKey(userId),
      attribute: `tat_${costClass}`,
      intervalMs,
      toleranceMs: (burst - 1) * intervalMs,
    },
    {
      empty: (retryAfterMs) =>
        new RateLimitedError(
          `At most ${perSecond} ${costClass} requests a second (bursts of ${burst}) per user`,
          retryAfterMs,
        ),
    },
    hints,
    now,
    signal,
  );
}
