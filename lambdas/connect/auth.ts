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
  /**
   * This API's client id (or the `aud` its issuer puts in its tokens). A Cognito access token
   * (`token_use: access`) must carry it as `client_id`; any other token must list it in `aud`. Without
   * it a token the issuer minted for any of its apps would open a socket.
   */
  audience: string;
  /** Allowed clock skew between the issuer and this function. @default 5 */
  clockToleranceSeconds?: number;
  /**
   * Longest lifetime (`exp - iat`) a token may have: a token that lives longer is refused, since the
   * socket it opens lives as long. @default 86400 (24 h, Cognito's longest id and access token validity)
   */
  maxLifetimeSeconds?: number;
}

/** Who a verified token names, and until when (epoch seconds) it may be used. */
export interface VerifiedToken {
  userId: string;
  exp: number;
}

/** Asymmetric algorithms only: a shared-secret or `none` token can never pass. */
const ALGORITHMS = ['RS256', 'ES256'];
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
/** 24 h. */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 86_400;
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

/**
 * A Cognito access token (`token_use: access`) names the app it was issued to in `client_id` and has no
 * `aud`; an id token, or any other OIDC token, names its audience in `aud`. Each kind is checked by its
 * own claim only, so an access token minted for another app of the issuer never passes.
 */
function audienceMatches(payload: JWTPayload, audience: string): boolean {
  if (payload.token_use === 'access') return payload.client_id === audience;
  const aud = payload.aud;
  const audiences = aud === undefined ? [] : Array.isArray(aud) ? aud : [aud];
  return audiences.includes(audience);
}

/** Refuses a token issued in the future or meant to live longer than the policy allows. */
function checkLifetime(
  payload: JWTPayload,
  policy: TokenPolicy,
  nowSeconds: number,
  tolerance: number,
): void {
  const { iat, exp } = payload;
  // jose has checked both are numbers: `requiredClaims` below.
  if (iat === undefined || exp === undefined) throw new UnauthorizedError('Token has no iat or exp');
  if (iat > nowSeconds + tolerance) throw new UnauthorizedError('Token was issued in the future (iat)');
  const max = policy.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  if (exp - iat > max) {
    throw new UnauthorizedError(`Token lifetime of ${exp - iat} s is over the limit of ${max} s`);
  }
}

/**
 * Verifies a JWT and returns its subject as the user id, with its expiry.
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
): Promise<VerifiedToken> {
  if (token === undefined || token === '') throw new UnauthorizedError('No token query parameter');
  let payload: JWTPayload;
  const tolerance = policy.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      issuer: policy.issuer,
      algorithms: ALGORITHMS,
      clockTolerance: tolerance,
      currentDate: now,
      // A token without exp would be valid forever; without iat its lifetime could not be checked.
      requiredClaims: ['exp', 'iat'],
    }));
  } catch (err: unknown) {
    if (err instanceof errors.JOSEError && TOKEN_ERROR_CODES.has(err.code)) {
      throw new UnauthorizedError(`${err.code}: ${err.message}`);
    }
    throw err;
  }
  checkLifetime(payload, policy, Math.floor(now.getTime() / 1000), tolerance);
  if (!audienceMatches(payload, policy.audience)) {
    throw new UnauthorizedError('Token audience does not match');
  }
  if (payload.token_use !== undefined && !TOKEN_USES.has(String(payload.token_use))) {
    throw new UnauthorizedError('Token use is neither id nor access');
  }
  const sub = userIdSchema.safeParse(payload.sub);
  if (!sub.success) throw new UnauthorizedError('Token has no valid sub claim');
  return { userId: sub.data, exp: payload.exp as number };
}

/**
 * The policy that lets one user open this socket. Its context reaches `$connect` and every later route
 * as `requestContext.authorizer`: `userId`, and `exp` (epoch seconds), after which the route kit refuses
 * the socket's frames and the fan-out stops pushing to it.
 */
export function allowPolicy({ userId, exp }: VerifiedToken, methodArn: string): APIGatewayAuthorizerResult {
  return {
    principalId: userId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: methodArn }],
    },
    context: { userId, exp },
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
      const verified = await verifyToken(event.queryStringParameters?.token, deps.keys, deps.policy, now());
      return allowPolicy(verified, event.methodArn);
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
