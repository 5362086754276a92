import {
  type CryptoKey,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  type JWTPayload,
  type JWTVerifyGetKey,
  SignJWT,
} from 'jose';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { type ConnectAuthorizerEvent, createAuthorizer, type TokenPolicy } from '../../lambdas/connect/auth';

const ISSUER = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_example';
const CLIENT_ID = 'chat-web-client';
const METHOD_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/$connect';
const NOW = new Date('2025-06-01T12:00:00Z');
const nowSeconds = Math.floor(NOW.getTime() / 1000);

let trustedKey: CryptoKey;
let untrustedKey: CryptoKey;
let keys: JWTVerifyGetKey;

beforeAll(async () => {
  const trusted = await generateKeyPair('RS256');
  const untrusted = await generateKeyPair('RS256');
  trustedKey = trusted.privateKey;
  untrustedKey = untrusted.privateKey;
  keys = createLocalJWKSet({
    keys: [{ ...(await exportJWK(trusted.publicKey)), kid: 'trusted', alg: 'RS256', use: 'sig' }],
  });
});

interface TokenOptions {
  claims?: JWTPayload;
  key?: CryptoKey;
  kid?: string;
  issuer?: string;
  /** Epoch seconds; null leaves exp out. */
  expiresAt?: number | null;
  /** Epoch seconds; null leaves iat out. */
  issuedAt?: number | null;
}

function sign({
  claims = {},
  key = trustedKey,
  kid = 'trusted',
  issuer = ISSUER,
  expiresAt = nowSeconds + 3600,
  issuedAt = nowSeconds - 60,
}: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ sub: 'alice', aud: CLIENT_ID, token_use: 'id', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid })
    .setIssuer(issuer);
  if (issuedAt !== null) jwt.setIssuedAt(issuedAt);
  return (expiresAt === null ? jwt : jwt.setExpirationTime(expiresAt)).sign(key);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function eventWith(token: string | undefined): ConnectAuthorizerEvent {
  return { methodArn: METHOD_ARN, queryStringParameters: token === undefined ? null : { token } };
}

function setup(policy: Partial<TokenPolicy> = {}, keyGetter?: JWTVerifyGetKey) {
  const logger = { warn: vi.fn(), error: vi.fn() };
  const authorize = createAuthorizer({
    keys: keyGetter ?? keys,
    policy: { issuer: ISSUER, audience: CLIENT_ID, ...policy },
    logger,
    now: () => NOW,
  });
  return { authorize, logger };
}

describe('$connect authorizer', () => {
  it('allows a valid token with the sub as principal and userId and its exp, scoped to the methodArn', async () => {
    // Prepare
    const { authorize } = setup();
    const token = await sign({ claims: { sub: 'user-42' } });

    // Act
    const result = await authorize(eventWith(token));

    // Assess
    expect(result).toEqual({
      principalId: 'user-42',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN }],
      },
      context: { userId: 'user-42', exp: nowSeconds + 3600 },
    });
  });

  it('accepts a Cognito access token whose client_id equals the audience and that has no aud', async () => {
    // Prepare
    const { authorize } = setup();
    const token = await sign({ claims: { aud: undefined, client_id: CLIENT_ID, token_use: 'access' } });

    // Act
    const result = await authorize(eventWith(token));

    // Assess
    expect(result.principalId).toBe('alice');
  });

  it('accepts a token that lives exactly as long as the maximum lifetime', async () => {
    // Prepare
    const { authorize } = setup({ maxLifetimeSeconds: 600 });
    const token = await sign({ issuedAt: nowSeconds - 60, expiresAt: nowSeconds + 540 });

    // Act
    const result = await authorize(eventWith(token));

    // Assess
    expect(result.context).toEqual({ userId: 'alice', exp: nowSeconds + 540 });
  });

  it('tolerates a few seconds of clock skew on iat', async () => {
    // Prepare
    const { authorize } = setup();
    const token = await sign({ issuedAt: nowSeconds + 4 });

    // Act
    const result = await authorize(eventWith(token));

    // Assess
    expect(result.principalId).toBe('alice');
  });

  it('tolerates a few seconds of clock skew on exp', async () => {
    // Prepare
    const { authorize } = setup();
    const token = await sign({ expiresAt: nowSeconds - 3 });

    // Act
    const result = await authorize(eventWith(token));

    // Assess
    expect(result.principalId).toBe('alice');
  });

  const refusals: [string, () => Promise<string | undefined>, RegExp][] = [
    ['no token at all', async () => undefined, /No token/],
    ['an empty token', async () => '', /No token/],
    ['a garbage token', async () => 'not.a.jwt', /ERR_JWS_INVALID/],
    ['an expired token', () => sign({ expiresAt: nowSeconds - 60 }), /ERR_JWT_EXPIRED/],
    [
      'a token not valid yet (nbf in the future)',
      () => sign({ claims: { nbf: nowSeconds + 600 } }),
      /ERR_JWT_CLAIM_VALIDATION_FAILED.*nbf/,
    ],
    ['a token without exp', () => sign({ expiresAt: null }), /ERR_JWT_CLAIM_VALIDATION_FAILED.*exp/],
    ['a token without iat', () => sign({ issuedAt: null }), /ERR_JWT_CLAIM_VALIDATION_FAILED.*iat/],
    [
      'a token issued in the future beyond the clock tolerance',
      () => sign({ issuedAt: nowSeconds + 60, expiresAt: nowSeconds + 3600 }),
      /issued in the future/,
    ],
    [
      'a token that lives longer than 24 hours',
      () => sign({ issuedAt: nowSeconds - 60, expiresAt: nowSeconds - 60 + 86_401 }),
      /lifetime of 86401 s is over the limit of 86400 s/,
    ],
    [
      'a token signed by another key under the trusted kid',
      () => sign({ key: untrustedKey }),
      /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/,
    ],
    [
      'a token signed by another key under an unknown kid',
      () => sign({ key: untrustedKey, kid: 'attacker' }),
      /ERR_JWKS_NO_MATCHING_KEY/,
    ],
    [
      'a token from another issuer',
      () => sign({ issuer: 'https://evil.example.com' }),
      /ERR_JWT_CLAIM_VALIDATION_FAILED.*iss/,
    ],
    ['a token for another audience', () => sign({ claims: { aud: 'another-client' } }), /audience/],
    [
      'an access token whose client_id is another app',
      () => sign({ claims: { aud: undefined, client_id: 'another-client', token_use: 'access' } }),
      /audience/,
    ],
    [
      "an access token of another app that lists this API's client id in aud",
      () => sign({ claims: { aud: CLIENT_ID, client_id: 'another-client', token_use: 'access' } }),
      /audience/,
    ],
    [
      "an id token for another app that carries this API's client id as client_id",
      () => sign({ claims: { aud: 'another-client', client_id: CLIENT_ID } }),
      /audience/,
    ],
    [
      'a token whose token_use is neither id nor access',
      () => sign({ claims: { token_use: 'refresh' } }),
      /Token use/,
    ],
    ['a token without sub', () => sign({ claims: { sub: undefined } }), /sub/],
    ['a token whose sub is not a valid user id', () => sign({ claims: { sub: 'has space' } }), /sub/],
    [
      'an unsigned token (alg none)',
      async () =>
        `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({
          sub: 'alice',
          iss: ISSUER,
          aud: CLIENT_ID,
          exp: nowSeconds + 3600,
        })}.`,
      /ERR_JOSE_ALG_NOT_ALLOWED|ERR_JWS_INVALID/,
    ],
  ];

  it.each(refusals)(
    'refuses %s with Unauthorized and logs why without the token',
    async (_, makeToken, why) => {
      // Prepare
      const { authorize, logger } = setup();
      const token = await makeToken();

      // Act
      const attempt = authorize(eventWith(token));

      // Assess
      await expect(attempt).rejects.toThrow(/^Unauthorized$/);
      expect(logger.warn).toHaveBeenCalledTimes(1);
      expect(logger.warn).toHaveBeenCalledWith('Connection refused', { reason: expect.stringMatching(why) });
      if (token) expect(JSON.stringify(logger.warn.mock.calls)).not.toContain(token);
    },
  );

  it('fails as a server error, not as a bad token, when the key set cannot be fetched', async () => {
    // Prepare
    const unreachable: JWTVerifyGetKey = async () => {
      throw new TypeError('fetch failed');
    };
    const { authorize, logger } = setup({}, unreachable);
    const token = await sign();

    // Act
    const attempt = authorize(eventWith(token));

    // Assess
    await expect(attempt).rejects.toThrow('fetch failed');
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(logger.warn).not.toHaveBeenCalled();
  });
});
