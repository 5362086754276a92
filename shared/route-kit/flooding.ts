/** The frame rate each connection gets, and how a connection that keeps sending while refused is closed. */
import type { FrameRate } from '../frame-rate';
import { LIMITS } from '../limits';
import { createDisconnector, createManagementClient, type DisconnectFn } from '../poster';

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
 * read from ENV.managementEndpoint.
 */
export function managementApiDisconnector(endpoint: string): DisconnectFn {
  return createDisconnector(createManagementClient(endpoint, CLOSE_TIMEOUT_MS));
}
