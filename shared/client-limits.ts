/**
 * The limits the client SDK reads, in a module of their own: the SDK imports this one alone, so its bundle
 * (held under 10 KB gzipped by test/client/readme-example.test.ts) carries none of the server's limits,
 * which esbuild could not drop from the one LIMITS object. LIMITS (./limits.ts) has each of them under
 * the same name, with what it means; read them there everywhere else.
 */
export const CLIENT_LIMITS = {
  maxFrameBytes: 32 * 1024,
  maxBodyBytes: 16 * 1024,
  maxConversationsPerUser: 500,
  defaultPageSize: 50,
  maxPageSize: 100,
  writerLeaseMs: 15_000,
  typingThrottleMs: 3_000,
  typingShownMs: 4_000,
} as const;
