import type { TokenRequest } from '../client';

/** A token this close to expiry is replaced before it is used for a connection. */
const TOKEN_MARGIN_MS = 60_000;

/** The token endpoint refused this user (an HTTP 4xx): signing in again is the way back. */
export class SignInRefusedError extends Error {
  override readonly name = 'SignInRefusedError';
}

/**
 * Dev tokens from the control plane, reused until close to expiry, and never again once the server has
 * not taken one. A browser cannot tell a refused handshake from a lost one (the SDK says `reconnect`, not
 * `refused`), so a token is trusted for a retry only after a connection with it opened: a token signed
 * before a server restart (or a key rotation) would otherwise be offered forever.
 */
export class DevTokens {
  private cached: { token: string; expiresAt: number; opened: boolean } | undefined;

  constructor(private readonly userId: string) {}

  /**
   * A valid token; throws with the control plane's message when it refuses the user id. After the SDK
   * says the last token expired or was refused, or when the last one never opened a connection, a fresh
   * one is fetched.
   */
  async get(request?: TokenRequest): Promise<string> {
    const stale = request?.reason === 'expired' || request?.reason === 'refused';
    if (stale || (request !== undefined && request.reason !== 'connect' && !this.cached?.opened))
      this.cached = undefined;
    if (this.cached && this.cached.expiresAt - Date.now() > TOKEN_MARGIN_MS) {
      // Trusted again only if this connection opens too.
      this.cached.opened = false;
      return this.cached.token;
    }
    const response = await fetch(`/token?user=${encodeURIComponent(this.userId)}`, { cache: 'no-store' });
    const answer = (await response.json()) as { token?: string; expiresAt?: string; message?: string };
    if (!response.ok || answer.token === undefined) {
      const message = answer.message ?? `The token endpoint answered ${response.status}`;
      throw response.status >= 400 && response.status < 500
        ? new SignInRefusedError(message)
        : new Error(message);
    }
    this.cached = {
      token: answer.token,
      expiresAt: Date.parse(answer.expiresAt ?? '') || Date.now(),
      opened: false,
    };
    return answer.token;
  }

  /** A connection opened with the last token handed out: the server takes it, so it may be offered again. */
  opened(): void {
    if (this.cached) this.cached.opened = true;
  }
}
