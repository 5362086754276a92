import { Logger } from '@aws-lambda-powertools/logger';
import { createRemoteJWKSet } from 'jose';
import { ENV, optionalEnv, requireEnv } from '../../shared/env';
import { createAuthorizer } from './auth';

const logger = new Logger({ serviceName: 'chat-authorizer' });

// Module scope so the fetched key set is cached across invocations of a warm container.
const keys = createRemoteJWKSet(new URL(requireEnv(ENV.jwtJwksUrl)));

export const handler = createAuthorizer({
  keys,
  policy: { issuer: requireEnv(ENV.jwtIssuer), audience: optionalEnv(ENV.jwtAudience) },
  logger,
});
