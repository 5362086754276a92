/**
 * The messages table, every read and write of it. Each seq of a conversation holds one item: a message
 * (later edited or deleted by its sender), a membership change, or the tombstone of a writer that died
 * between reserving the seq and storing under it. Readers fill such holes, so every seq in 1..lastSeq
 * resolves to exactly one item (see docs/design.md "How a message gets its seq"). *
 * - ./entries.ts: what an item reads as (`toEntry`), reads by seq (`getEntry`, `getMessage`, `getEntries`) and the
 *   puts of a new entry only where its slot is empty (`putMessage` once its claim is marked,
 *   `putMembershipEntry`, `fillHole`).
 * - ./changes.ts: a sender's changes to their message, each one conditional update (`editBody`,
 *   `markDeleted`).
 * - ./pages.ts: the backlog after a seq (`messagesAfter`) and pages before one (`messagesBefore`), which
 *   fill the holes of dead writers on the way.
 */
export {
  type ChangeResult,
  type ChangeTarget,
  type DeleteResult,
  editBody,
  type MessageItem,
  markDeleted,
} from './changes';
export {
  fillHole,
  getEntries,
  getEntry,
  getMessage,
  type MessageTables,
  putMembershipEntry,
  putMessage,
  toEntry,
} from './entries';
export { type HoleWitness, type MessagePage, messagesAfter, messagesBefore } from './pages';
