/**
 * Who may open a socket: JWT verification for the `$connect` REQUEST authorizer. The token arrives in
 * the `token` query parameter because browsers cannot set headers on a WebSocket handshake.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import { errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { UnauthorizedError } from '../../shared/errors';
import { userIdSchema } from '../../shared/protocol';

/** What a token must satisfy beyond a valid signature. */
export interface TokenPolicy {
  issuer: string;
  /** When set, `aud` must include it or `client_id` must equal it (Cognito access tokens carry no `aud`). */
  audience?: string;
  /** Allowed clock skew between the issuer and this function. @default 5 */
  clockToleranceSeconds?: number;
}

/** Asymmetric algorithms only: a shared-secret or `none` token can never pass. */
const ALGORITHMS = ['RS256', 'ES256'];
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
const TOKEN_USES = new Set(['id', 'access']);

/**
 * jose codes that mean "this token is bad". Anything else (JWKS timeout, unreachable or invalid key
 * set) is our failure, and must not tell the client its token is wrong.
 */
const TOKEN_ERROR_CODES = new Set<string>([
  errors.JOSEAlgNotAllowed.code,
  errors.JOSENotSupported.code,
  errors.JWSInvalid.code,
  errors.JWTInvalid.code,
  errors.JWTClaimValidationFailed.code,
  errors.JWTExpired.code,
  errors.JWSSignatureVerificationFailed.code,
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
]);

function audienceMatches(payload: JWTPayload, audience: string): boolean {
  const aud = payload.aud;
  const audiences = aud === undefined ? [] : Array.isArray(aud) ? aud : [aud];
  return audiences.includes(audience) || payload.client_id === audience;
}

/**
 * Verifies a JWT and returns its subject as the user id.
 * @param keys Key getter: `createRemoteJWKSet` in Lambda, `createLocalJWKSet` in tests.
 * @param now The verifier's clock.
 * @throws UnauthorizedError naming the reason (never the token) when the token is missing or invalid.
 * @throws The original error when verification could not run, for example the key set is unreachable.
 */
export async function verifyToken(
  token: string | undefined,
  keys: JWTVerifyGetKey,
  policy: TokenPolicy,
  now: Date = new Date(),
): Promise<string> {
  if (token === undefined || token === '') throw new UnauthorizedError('No token query parameter');
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      issuer: policy.issuer,
      algorithms: ALGORITHMS,
      clockTolerance: policy.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
      currentDate: now,
      // A token without exp would be valid forever.
      requiredClaims: ['exp'],
    }));
  } catch (err: unknown) {
    if (err instanceof errors.JOSEError && TOKEN_ERROR_CODES.has(err.code)) {
      throw new UnauthorizedError(`${err.code}: ${err.message}`);
    }
    throw err;
  }
  if (policy.audience !== undefined && !audienceMatches(payload, policy.audience)) {
    throw new UnauthorizedError('Token audience does not match');
  }
  if (payload.token_use !== undefined && !TOKEN_USES.has(String(payload.token_use))) {
    throw new UnauthorizedError('Token use is neither id nor access');
  }
  const sub = userIdSchema.safeParse(payload.sub);
  if (!sub.success) throw new UnauthorizedError('Token has no valid sub claim');
  return sub.data;
}

/**
 * The policy that lets one user open this socket. `context.userId` reaches every later route as
 * `requestContext.authorizer.userId`.
 */
export function allowPolicy(userId: string, methodArn: string): APIGatewayAuthorizerResult {
  return {
    principalId: userId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: methodArn }],
    },
    context: { userId },
  };
}

/** The parts of a WebSocket `$connect` REQUEST authorizer event this function reads. */
export interface ConnectAuthorizerEvent {
  methodArn: string;
  queryStringParameters?: Record<string, string | undefined> | null;
}

export interface AuthorizerDeps {
  keys: JWTVerifyGetKey;
  policy: TokenPolicy;
  logger: Pick<Logger, 'warn' | 'error'>;
  now?: () => Date;
}

/**
 * Makes the REQUEST authorizer. A bad token throws `Error('Unauthorized')`, which API Gateway turns
 * into 401 and a refused handshake; a failure to verify at all is rethrown (500, also refused).
 */
export function createAuthorizer(
  deps: AuthorizerDeps,
): (event: ConnectAuthorizerEvent) => Promise<APIGatewayAuthorizerResult> {
  const now = deps.now ?? (() => new Date());
  return async (event) => {
    try {
      const userId = await verifyToken(event.queryStringParameters?.token, deps.keys, deps.policy, now());
      return allowPolicy(userId, event.methodArn);
    } catch (err: unknown) {
      if (err instanceof UnauthorizedError) {
        deps.logger.warn('Connection refused', { reason: err.message });
        throw new Error('Unauthorized');
      }
      deps.logger.error('Token verification failed', { error: err instanceof Error ? err : String(err) });
      throw err;
    }
  };
}
