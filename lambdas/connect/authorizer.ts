import { Logger } from '@aws-lambda-powertools/logger';
import { createRemoteJWKSet } from 'jose';
import { ENV, optionalEnv, requireEnv } from '../../shared/env';
import { createAuthorizer } from './auth';

const logger = new Logger({ serviceName: 'chat-authorizer' });

// Module scope so the fetched key set is cached across invocations of a warm container.
const keys = createRemoteJWKSet(new URL(requireEnv(ENV.jwtJwksUrl)));

const maxLifetime = optionalEnv(ENV.jwtMaxLifetimeSeconds);
if (maxLifetime !== undefined && !/^[1-9][0-9]*$/.test(maxLifetime)) {
  throw new Error(`${ENV.jwtMaxLifetimeSeconds} must be a whole number of seconds; got '${maxLifetime}'`);
}

export const handler = createAuthorizer({
  keys,
  policy: {
    issuer: requireEnv(ENV.jwtIssuer),
    audience: requireEnv(ENV.jwtAudience),
    ...(maxLifetime === undefined ? {} : { maxLifetimeSeconds: Number(maxLifetime) }),
  },
  logger,
});
