/**
 * The caller's say over who reaches them: the block list (`block`, `unblock`, `listBlocked`) and who may
 * add them to a group (`setWhoCanAdd`), kept on their profile item (shared/store/conversations/profiles.ts).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../../../shared/errors';
import type { ActionRoutes } from '../../../shared/route-kit';
import { blockUser, readProfile, setWhoCanAdd, unblockUser } from '../../../shared/store/conversations';
import type { TableNames } from '../../../shared/tables';

/**
 * The block-list and setting routes. A blocked user cannot open a direct conversation with the blocker nor add them
 * to a group: the transactions that would (shared/store/conversations/membership.ts) check the list.
 * Conversations the two share already are left as they are. Each route is one request on the caller's
 * profile item and idempotent: `changed` says whether this frame changed the list.
 */
export function blockRoutes(deps: {
  ddb: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'conversations'>;
}): Pick<Required<ActionRoutes>, 'block' | 'unblock' | 'listBlocked' | 'setWhoCanAdd'> {
  const { ddb, tables } = deps;
  return {
    block: async (frame, caller) => {
      if (frame.userId === caller.userId) throw new ValidationError(['userId: you cannot block yourself']);
      const changed = await blockUser(ddb, tables, caller.userId, frame.userId);
      return { userId: frame.userId, blocked: true, changed };
    },
    unblock: async (frame, caller) => {
      const changed = await unblockUser(ddb, tables, caller.userId, frame.userId);
      return { userId: frame.userId, blocked: false, changed };
    },
    listBlocked: async (_frame, caller) => {
      const { blocked, whoCanAdd } = await readProfile(ddb, tables, caller.userId);
      return { userIds: [...(blocked ?? [])].sort(), whoCanAdd };
    },
    setWhoCanAdd: async (frame, caller) => {
      await setWhoCanAdd(ddb, tables, caller.userId, frame.whoCanAdd);
      return { whoCanAdd: frame.whoCanAdd };
    },
  };
}
