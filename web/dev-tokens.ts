/** A token this close to expiry is replaced before it is used for a connection. */
const TOKEN_MARGIN_MS = 60_000;

/** Dev tokens from the control plane, reused until close to expiry. */
export class DevTokens {
  private cached: { token: string; expiresAt: number } | undefined;

  constructor(private readonly userId: string) {}

  /** A valid token; throws with the control plane's message when it refuses the user id. */
  async get(): Promise<string> {
    if (this.cached && this.cached.expiresAt - Date.now() > TOKEN_MARGIN_MS) return this.cached.token;
    const response = await fetch(`/token?user=${encodeURIComponent(this.userId)}`, { cache: 'no-store' });
    const answer = (await response.json()) as { token?: string; expiresAt?: string; message?: string };
    if (!response.ok || answer.token === undefined)
      throw new Error(answer.message ?? `The token endpoint answered ${response.status}`);
    this.cached = { token: answer.token, expiresAt: Date.parse(answer.expiresAt ?? '') || Date.now() };
    return answer.token;
  }
}
