/**
 * Changes to a stored message by its sender: a new body, or deletion. Each is one conditional update
 * with `ADD version 1`, so concurrent changes serialize on the item and each gets its own version. A
 * failed condition returns the item as it was, which tells the caller why in the same request.
 */
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Attachment } from '../../attachments';
import { isAwsError } from '../../errors';
import { itemOfFailedCondition } from '../conditions';
import type { MessageTables } from './entries';

/** The message item as an update returns it (ALL_NEW, or ALL_OLD when its condition failed). */
export interface MessageItem {
  senderId?: string;
  body?: string;
  attachment?: Attachment;
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

/**
 * One change: what it sets, and when it may (`:sender` is the caller, `:one` the version step), and
 * whether the update returns the item as it was (ALL_OLD) rather than as it is now.
 */
interface Change {
  expression: string;
  condition: string;
  returnsOld?: true;
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
  // The removed attachment's key is in the old item only, and its object must go too.
  returnsOld: true,
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
        ReturnValues: change.returnsOld ? 'ALL_OLD' : 'ALL_NEW',
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

/** A delete's result: as a change's, with the attachment the deleted message carried. */
export type DeleteResult =
  | { updated: true; item: MessageItem; removedAttachment?: Attachment }
  | { updated: false; old: MessageItem | undefined };

/**
 * Marks the sender's message deleted, unless it already is: its body and attachment reference go, its
 * seq stays. The update returns the item as it was, so the attachment it carried is known without a
 * read (the caller deletes its object); the item as it is now follows from the update expression.
 */
export async function markDeleted(
  ddb: DynamoDBDocumentClient,
  tables: MessageTables,
  target: ChangeTarget,
  deletedAt: string,
  signal: AbortSignal,
): Promise<DeleteResult> {
  const result = await updateMessage(
    ddb,
    tables,
    target,
    DELETE,
    { ':true': true, ':at': deletedAt },
    signal,
  );
  if (!result.updated) return result;
  const { body: _body, editedAt: _editedAt, attachment, ...kept } = result.item;
  const item = { ...kept, deleted: true, deletedAt, version: (kept.version ?? 0) + 1 };
  return attachment === undefined
    ? { updated: true, item }
    : { updated: true, item, removedAttachment: attachment };
}
