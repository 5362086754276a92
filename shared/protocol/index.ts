/**
 * The wire protocol: every frame a client may send (validated with zod) and every frame the server
 * sends back or pushes. docs/protocol.md documents the same shapes for humans.
 *
 * - actions: the action table, each action's request schema and ack payload type
 * - fields: the field schemas several frames share (ids, seqs, requestId)
 * - frames: client → server, one schema and one type per action
 * - entries: what a conversation stores at each seq (messages, tombstones)
 * - acks: the reply to a request, and the payload each action acks with
 * - errors: the reply to a refused request
 * - pushes: server → client pushes, and the union of every server frame
 * - rooms: the room actions (create, join, slow mode, info) and the room their acks describe
 */
export * from './acks';
export * from './actions';
export * from './entries';
export * from './errors';
export * from './fields';
export * from './frames';
export * from './pushes';
export * from './rooms';
