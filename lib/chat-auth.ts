import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  AccountRecovery,
  FeaturePlan,
  Mfa,
  OAuthScope,
  StandardThreatProtectionMode,
  UserPool,
  type UserPoolClient,
} from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { acknowledgeRule } from './nag';

/** An existing OpenID Connect issuer whose JWTs the `$connect` authorizer accepts. */
export interface OidcIssuerProps {
  /** The issuer (`iss` claim) tokens must carry, an https URL. */
  readonly issuer: string;
  /** Where the issuer publishes its signing keys (JWKS), an https URL. */
  readonly jwksUrl: string;
  /**
   * This API's client id at the issuer: id tokens must list it in `aud`, Cognito access tokens carry it
   * as `client_id`. Required (synth fails without it): an issuer mints tokens for all its apps, and any
   * of them would otherwise open a socket here.
   */
  readonly audience: string;
  /**
   * Longest lifetime (`exp - iat`) of a token the authorizer accepts; a socket lives as long as its token.
   * @default Duration.hours(24)
   */
  readonly maxTokenLifetime?: Duration;
}

/** Settings of the Cognito user pool the stack creates when no OIDC issuer is given. */
export interface CognitoAuthProps {
  /**
   * Whether anyone may sign up; off by default so only invited users (created by an admin) get in.
   * @default false
   */
  readonly selfSignUpEnabled?: boolean;
  /**
   * Cognito threat protection (compromised credentials, adaptive authentication) in enforcing mode.
   * It needs the Plus feature plan, which costs more per monthly active user than Essentials.
   * @default true
   */
  readonly threatProtection?: boolean;
  /**
   * Multi-factor authentication. TOTP apps only: SMS would need an SNS role and costs per message.
   * @default Mfa.OPTIONAL
   */
  readonly mfa?: Mfa;
  /**
   * Where the browser app receives the authorization code (OAuth code flow, hosted UI): https URLs of the
   * deployed page. Without any, the app client has no OAuth flow (SRP and admin sign-in only).
   * @default - none
   */
  readonly callbackUrls?: string[];
  /**
   * Also accept the local web page (`http://localhost:5173/`) as callback and logout URL, for development
   * against this pool. Leave it off in production: anyone running a page on that port of a user's machine
   * could receive their codes.
   * @default false
   */
  readonly localhostCallback?: boolean;
  /**
   * Where the browser app lands after sign-out.
   * @default - the callback URLs
   */
  readonly logoutUrls?: string[];
  /**
   * Longest lifetime (`exp - iat`) of a token the authorizer accepts. The app client issues 1-hour tokens.
   * @default Duration.hours(24)
   */
  readonly maxTokenLifetime?: Duration;
}

/** A browser app in development (Vite's default port), a callback URL only with `localhostCallback`. */
export const LOCALHOST_CALLBACK_URL = 'http://localhost:5173/';

export interface ChatAuthProps {
  /**
   * Trust an existing OIDC issuer instead of creating a Cognito user pool.
   * @default - a Cognito user pool and app client are created
   */
  readonly oidc?: OidcIssuerProps;
  /**
   * Settings of the created user pool; must not be combined with `oidc`.
   * @default - see CognitoAuthProps
   */
  readonly cognito?: CognitoAuthProps;
  /**
   * What happens to the user pool when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** What the `$connect` authorizer needs to verify a token, wherever the token comes from. */
export interface TokenIssuer {
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly audience: string;
  readonly maxLifetimeSeconds: number;
}

const DEFAULT_MAX_TOKEN_LIFETIME = Duration.hours(24);

/**
 * Who may connect: either a Cognito user pool with a browser app client created here, or an existing OIDC
 * issuer. Either way the result is a `TokenIssuer` for the `$connect` authorizer.
 */
export class ChatAuth extends Construct {
  readonly tokenIssuer: TokenIssuer;
  /** The created user pool, when no OIDC issuer was given. */
  readonly userPool?: UserPool;
  /** The browser app client of the created user pool, when no OIDC issuer was given. */
  readonly userPoolClient?: UserPoolClient;

  constructor(scope: Construct, id: string, props: ChatAuthProps = {}) {
    super(scope, id);
    if (props.oidc) {
      const { issuer, jwksUrl, audience, maxTokenLifetime } = props.oidc;
      // TypeScript requires it; a JavaScript app or a value read from context may still leave it out.
      if (typeof audience !== 'string' || audience.trim() === '') {
        throw new Error(
          'oidc.audience is required: without it the authorizer would accept tokens the issuer minted for ' +
            "any of its apps. Set it to this API's client id at the issuer (the aud of its id tokens).",
        );
      }
      this.tokenIssuer = {
        issuer,
        jwksUrl,
        audience,
        maxLifetimeSeconds: (maxTokenLifetime ?? DEFAULT_MAX_TOKEN_LIFETIME).toSeconds(),
      };
      return;
    }
    const cognito = props.cognito ?? {};
    const threatProtection = cognito.threatProtection ?? true;
    const mfa = cognito.mfa ?? Mfa.OPTIONAL;
    this.userPool = new UserPool(this, 'UserPool', {
      selfSignUpEnabled: cognito.selfSignUpEnabled ?? false,
      signInAliases: { email: true },
      autoVerify: { email: true },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
      },
      mfa,
      mfaSecondFactor: { otp: true, sms: false },
      featurePlan: threatProtection ? FeaturePlan.PLUS : FeaturePlan.ESSENTIALS,
      standardThreatProtectionMode: threatProtection
        ? StandardThreatProtectionMode.FULL_FUNCTION
        : StandardThreatProtectionMode.NO_ENFORCEMENT,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    if (mfa !== Mfa.REQUIRED) {
      acknowledgeRule(
        this.userPool,
        'AwsSolutions-COG2',
        'Chat end users choose whether to enrol a TOTP app (MFA optional by default); deployments that need ' +
          'it for everyone set cognito.mfa to Mfa.REQUIRED, which clears this finding.',
      );
    }
    if (!threatProtection) {
      acknowledgeRule(
        this.userPool,
        'AwsSolutions-COG8',
        'Threat protection (and with it the Plus plan) was turned off explicitly with ' +
          'cognito.threatProtection = false, trading adaptive authentication for a lower price per user.',
      );
    }
    const callbackUrls = callbackUrlsOf(cognito);
    // A browser cannot keep a secret, so the client has none: SRP for direct sign-in, code flow (PKCE) for
    // hosted UI when it has somewhere to send the code, and admin sign-in, which only a caller with IAM
    // rights on the pool can use (operators and scripts getting a token for `npm run chat -- --token …`).
    this.userPoolClient = this.userPool.addClient('WebClient', {
      generateSecret: false,
      authFlows: { userSrp: true, adminUserPassword: true },
      ...(callbackUrls.length === 0
        ? { disableOAuth: true }
        : {
            oAuth: {
              flows: { authorizationCodeGrant: true },
              scopes: [OAuthScope.OPENID, OAuthScope.EMAIL, OAuthScope.PROFILE],
              callbackUrls,
              logoutUrls: cognito.logoutUrls ?? callbackUrls,
            },
          }),
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
    });
    this.tokenIssuer = {
      issuer: this.userPool.userPoolProviderUrl,
      jwksUrl: `${this.userPool.userPoolProviderUrl}/.well-known/jwks.json`,
      // The authorizer checks id tokens' `aud` and access tokens' `client_id` against this one client.
      audience: this.userPoolClient.userPoolClientId,
      maxLifetimeSeconds: (cognito.maxTokenLifetime ?? DEFAULT_MAX_TOKEN_LIFETIME).toSeconds(),
    };
  }
}

/**
 * The callback URLs the app client gets: the given ones, each https (Cognito allows http only for
 * localhost), plus the local page when asked for.
 * @throws Error naming the URL when one is not https.
 */
function callbackUrlsOf(cognito: CognitoAuthProps): string[] {
  const urls = [...(cognito.callbackUrls ?? [])];
  for (const url of urls) {
    if (!url.startsWith('https://')) {
      throw new Error(
        `cognito.callbackUrls must be https URLs; got '${url}'. For the local page set cognito.localhostCallback.`,
      );
    }
  }
  if (cognito.localhostCallback === true) urls.push(LOCALHOST_CALLBACK_URL);
  return urls;
}
