/**
 * The frame rate each connection gets, and how the route kit closes a connection: one that keeps sending
 * while refused, or one whose token has expired.
 */
import type { FrameRate } from '../frame-rate';
import { LIMITS } from '../limits';
import { createDisconnector, createManagementClient, createPoster } from '../poster';

/**
 * Closes a connection (one already gone counts as closed). With `lastFrame`, that frame is posted to it
 * first: a route's own answer would be lost once its connection is deleted, and the client must learn
 * why it was closed (`token_expired`). A {@link DisconnectFn} that ignores `lastFrame` also fits.
 */
export type CloseFn = (connectionId: string, lastFrame?: string) => Promise<void>;

/** Frames per connection each handler admits (shared/frame-rate.ts); over it a frame is `rate_limited`. */
export const CONNECTION_FRAME_RATE: FrameRate = {
  ratePerSecond: LIMITS.connectionFramesPerSecond,
  burst: LIMITS.connectionFrameBurst,
  closeAfterRefused: LIMITS.connectionFramesRefusedBeforeClose,
};

/** How long a refused frame's answer waits for the DeleteConnection of its connection. */
const CLOSE_TIMEOUT_MS = 1_000;

/**
 * Closes connections through the stage's management API at `endpoint` (the stage's callback URL on AWS,
 * the emulator's locally): what a handler passes as the route kit's `disconnect`, with the endpoint it
 * read from ENV.managementEndpoint. A `lastFrame` is posted first through the poster (shared/poster.ts:
 * its own timeout and bounded retries, since it is the client's only word on why it was closed): one
 * PostToConnection before the DeleteConnection, more only when it must be retried. If it cannot be
 * posted the connection is closed all the same.
 */
export function managementApiDisconnector(endpoint: string): CloseFn {
  const disconnect = createDisconnector(createManagementClient(endpoint, CLOSE_TIMEOUT_MS));
  const post = createPoster({
    client: createManagementClient(endpoint),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
  });
  return async (connectionId, lastFrame) => {
    if (lastFrame !== undefined) await post(connectionId, lastFrame);
    await disconnect(connectionId);
  };
}
