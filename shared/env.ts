/**
 * Reads a required environment variable once, at cold start.
 * @throws Error naming the variable when it is missing or empty.
 */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new Error(`Missing required environment variable ${name}`);
  }
  return value;
}

/** Reads an optional environment variable; an empty value counts as absent. */
export function optionalEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** Environment variable names shared by the stack, the handlers and the local runtime. */
export const ENV = {
  fanoutQueueUrl: 'FANOUT_QUEUE_URL',
  deadLetterQueueUrl: 'DEAD_LETTER_QUEUE_URL',
  shardQueueUrl: 'SHARD_QUEUE_URL',
  managementEndpoint: 'WS_MANAGEMENT_ENDPOINT',
  jwtIssuer: 'JWT_ISSUER',
  jwtJwksUrl: 'JWT_JWKS_URL',
  jwtAudience: 'JWT_AUDIENCE',
  jwtMaxLifetimeSeconds: 'JWT_MAX_LIFETIME_SECONDS',
  attachmentsBucket: 'ATTACHMENTS_BUCKET',
  offlineEventBus: 'OFFLINE_EVENT_BUS_NAME',
} as const;
