/**
 * Reading stored messages: one by seq (a retried send), the backlog after a seq (subscribe) and pages
 * before a seq (history). Readers are also where a dead writer's hole is filled: a seq reserved by a
 * send that never stored its message becomes a tombstone, so every seq in 1..lastSeq resolves to exactly
 * one item (see README "How a message gets its seq").
 *
 * - ./entries.ts: what an item reads as (`toEntry`), one read by seq (`getEntry`, `getMessage`) and the
 *   puts of a new entry only where its slot is empty (`putMembershipEntry`, `fillHole`).
 * - ./pages.ts: the backlog after a seq (`messagesAfter`) and pages before one (`messagesBefore`), which
 *   fill the holes of dead writers on the way.
 */
export {
  fillHole,
  getEntry,
  getMessage,
  type MessageTables,
  putMembershipEntry,
  toEntry,
} from './entries';
export { type HoleWitness, type MessagePage, messagesAfter, messagesBefore } from './pages';
