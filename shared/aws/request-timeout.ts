/**
 * A per-attempt deadline for an SDK client (no SDK package is loaded here). Without one, a request to a
 * service that accepted the connection and then stopped answering (a frozen process, a black-holed
 * packet) waits forever and keeps its socket; with one, the attempt fails as a TimeoutError, which the
 * SDK's retry strategy retries like any transient error.
 */
export function requestTimeoutConfig(requestTimeoutMs: number | undefined): {
  requestHandler?: { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: true };
} {
  if (requestTimeoutMs === undefined) return {};
  return {
    requestHandler: {
      connectionTimeout: Math.min(1_000, requestTimeoutMs),
      requestTimeout: requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  };
}
