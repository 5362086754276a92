/**
 * Changes to a stored message by its sender: a new body, or deletion. Each is one conditional update
 * with `ADD version 1`, so concurrent changes serialize on the item and each gets its own version. A
 * failed condition returns the item as it was, which tells the caller why in the same request.
 */
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isAwsError } from '../../errors';
import { itemOfFailedCondition } from '../conditions';
import type { MessageTables } from './entries';

/** The message item as an update returns it (ALL_NEW, or ALL_OLD when its condition failed). */
export interface MessageItem {
  senderId?: string;
  body?: string;
  tombstone?: boolean;
  deleted?: boolean;
  editedAt?: string;
  deletedAt?: string;
  version?: number;
}

/** The item after the change, or as it was when the change was refused (undefined: no item at all). */
export type ChangeResult =
  | { updated: true; item: MessageItem }
  | { updated: false; old: MessageItem | undefined };

/** The message a change is about, and who asks for it: only its sender may change it. */
export interface ChangeTarget {
  conversationId: string;
  seq: number;
  senderId: string;
}

/** One change: what it sets, and when it may (`:sender` is the caller, `:one` the version step). */
interface Change {
  expression: string;
  condition: string;
}

const EDIT: Change = {
  expression: 'SET body = :body, editedAt = :at ADD version :one',
  condition: 'senderId = :sender AND attribute_not_exists(deleted) AND body <> :body',
};

const DELETE: Change = {
  // sentAt stays: it witnesses the age of the holes below this seq (./pages.ts).
  // The attachment reference goes with the body: history never showed it on a deleted message.
  expression: 'SET deleted = :true, deletedAt = :at REMOVE body, editedAt, attachment ADD version :one',
  condition: 'senderId = :sender AND attribute_not_exists(deleted)',
};

async function updateMessage(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  target: ChangeTarget,
  change: Change,
  values: Record<string, unknown>,
  signal: AbortSignal,
): Promise<ChangeResult> {
  try {
    const { Attributes } = await ddb.send(
      new UpdateCommand({
        TableName: tables.messages,
        Key: { conversationId: target.conversationId, seq: target.seq },
        UpdateExpression: change.expression,
        ConditionExpression: change.condition,
        ExpressionAttributeValues: { ...values, ':one': 1, ':sender': target.senderId },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
      { abortSignal: signal },
    );
    return { updated: true, item: (Attributes ?? {}) as MessageItem };
  } catch (err: unknown) {
    if (!isAwsError(err, 'ConditionalCheckFailedException')) throw err;
    return { updated: false, old: itemOfFailedCondition<MessageItem>(err) };
  }
}

/**
 * Replaces the body of the sender's message, unless it is deleted or already has this body (a resend
 * of the edit, or an edit back to the body it was sent with).
 */
export function editBody(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  target: ChangeTarget,
  edit: { body: string; editedAt: string },
  signal: AbortSignal,
): Promise<ChangeResult> {
  const values = { ':body': edit.body, ':at': edit.editedAt };
  return updateMessage(ddb, tables, target, EDIT, values, signal);
}

/**
 * Marks the sender's message deleted, unless it already is: its body and attachment reference go, its
 * seq stays.
 */
export function markDeleted(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  target: ChangeTarget,
  deletedAt: string,
  signal: AbortSignal,
): Promise<ChangeResult> {
  return updateMessage(ddb, tables, target, DELETE, { ':true': true, ':at': deletedAt }, signal);
}
